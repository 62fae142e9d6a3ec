"""Hostile configurations against the real Postgres and Kafka: a wrong password, a database
that does not exist, an empty schema. Each is one line, exit 69, and no secret anywhere."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from pipeline.storage.migrate import upgrade
from tests.hostile import EX_UNAVAILABLE, SECRET, Hostile, assert_one_line_failure, run_finsent

URL = "FINSENT_DATABASE__URL"
WRONG = {URL: "{wrong_password}"}
NO_DB = {URL: "{no_such_database}"}
EMPTY = {URL: "{empty}"}
LOGIN = ("refused the login", "password authentication failed", "FINSENT_DATABASE__URL")
NO_SCHEMA = ("no finsent schema", "finsent db upgrade")


def _away(*args: str, env: dict[str, str], says: tuple[str, ...]) -> Hostile:
    return Hostile(tuple(args), env, EX_UNAVAILABLE, says)


CASES = [
    pytest.param(_away("report", env=WRONG, says=LOGIN), id="report, wrong password"),
    pytest.param(_away("alerts", "list", env=WRONG, says=LOGIN), id="alerts list, wrong password"),
    pytest.param(_away("db", "upgrade", env=WRONG, says=LOGIN), id="db upgrade, wrong password"),
    pytest.param(
        _away("worker", "schedule", env=WRONG, says=LOGIN), id="worker schedule, wrong password"
    ),
    pytest.param(
        _away("endpoints", "list", env=NO_DB, says=("does not exist", "FINSENT_DATABASE__URL")),
        id="endpoints list, no such database",
    ),
    pytest.param(_away("report", env=EMPTY, says=NO_SCHEMA), id="report, empty schema"),
    pytest.param(
        _away("alerts", "list", env=EMPTY, says=NO_SCHEMA), id="alerts list, empty schema"
    ),
    pytest.param(
        _away("worker", "schedule", env=EMPTY, says=NO_SCHEMA), id="worker schedule, empty schema"
    ),
    pytest.param(
        _away("worker", "notify", env=EMPTY, says=NO_SCHEMA), id="worker notify, empty schema"
    ),
    pytest.param(
        _away(
            "worker",
            "classify",
            env=EMPTY | {"FINSENT_KAFKA__BOOTSTRAP": "{kafka}"},
            says=NO_SCHEMA,
        ),
        id="worker classify on the real Kafka, empty schema",
    ),
]


@pytest.fixture
def places(pg_url: str, admin_pg_url: str, kafka_bootstrap: str) -> dict[str, str]:
    """What a case's `{name}` stands for: real servers, wrong credentials carrying SECRET."""
    admin = make_url(admin_pg_url)
    return {
        "empty": pg_url,
        "wrong_password": admin.set(password=SECRET).render_as_string(hide_password=False),
        "no_such_database": admin.set(database="finsent_no_such_db").render_as_string(
            hide_password=False
        ),
        "kafka": kafka_bootstrap,
    }


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_environment_is_one_line(
    case: Hostile, places: dict[str, str], tmp_path: Path
) -> None:
    placed = replace(case, env={k: v.format(**places) for k, v in case.env.items()})
    assert_one_line_failure(case, run_finsent(placed, tmp_path))


def test_the_same_commands_work_once_migrated(pg_url: str, tmp_path: Path) -> None:
    """The control: the boundary does not turn a working database into an error."""
    upgrade(pg_url)
    for args in (("alerts", "list"), ("endpoints", "list")):
        outcome = run_finsent(Hostile(args, {URL: pg_url}), tmp_path)
        assert outcome.exit_code == 0, outcome.text
        assert "error" not in outcome.stderr
