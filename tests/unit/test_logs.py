"""Process logging: finsent's own INFO lines show; libraries' INFO chatter does not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from workers.logs import OWN_LOGGERS, QUIET_LOGGERS, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (
        root.handlers[:],
        root.level,
        {n: logging.getLogger(n).level for n in (*OWN_LOGGERS, *QUIET_LOGGERS)},
    )
    yield
    root.handlers[:], level, own = saved
    root.setLevel(level)
    for name, own_level in own.items():
        logging.getLogger(name).setLevel(own_level)


def test_info_shows_finsent_lines_and_hides_library_info() -> None:
    configure_logging("INFO")
    assert logging.getLogger("pipeline.training.train").isEnabledFor(logging.INFO)
    assert logging.getLogger("workers.classifier").isEnabledFor(logging.INFO)
    # `python -m workers.classifier` logs as __main__: its lines are finsent's too
    assert logging.getLogger("__main__").isEnabledFor(logging.INFO)
    # onnxruntime's quantizer logs through the root logger; fusion through its own names
    assert not logging.getLogger().isEnabledFor(logging.INFO)
    assert not logging.getLogger("fusion_base").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
    # kafka-python logs every failed connect at ERROR; finsent reports the outage in one line
    assert not logging.getLogger("kafka.conn").isEnabledFor(logging.ERROR)


def test_debug_shows_everything_and_warning_quiets_finsent() -> None:
    configure_logging("DEBUG")
    assert logging.getLogger("kafka.coordinator").isEnabledFor(logging.DEBUG)
    configure_logging("WARNING")
    assert not logging.getLogger("pipeline.alerting.scheduling").isEnabledFor(logging.INFO)
    assert logging.getLogger("pipeline.alerting.scheduling").isEnabledFor(logging.WARNING)
