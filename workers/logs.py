"""Process logging: one line per event, text for people or JSON for collectors."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_RESERVED = set(vars(logging.makeLogRecord({})))
OWN_LOGGERS = ("pipeline", "workers", "schemas", "bench", "__main__")  # `python -m` too
# Clients that log every failed connect attempt at ERROR; finsent reports the outage itself.
QUIET_LOGGERS = ("kafka",)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # finsent's own loggers speak at `level`; libraries (kafka, onnxruntime's quantizer,
    # apscheduler, …) only from WARNING up, unless DEBUG asks for everything.
    numeric = logging.getLevelName(level)
    root.setLevel(numeric if numeric <= logging.DEBUG else max(logging.WARNING, numeric))
    for own in OWN_LOGGERS:
        logging.getLogger(own).setLevel(numeric)
    for quiet in QUIET_LOGGERS:
        logging.getLogger(quiet).setLevel(numeric if numeric <= logging.DEBUG else logging.CRITICAL)
