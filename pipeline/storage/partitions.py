"""Daily range partitions of `trend_windows` on PostgreSQL (DESIGN §6).

A window lands in the partition of its `window_end`'s UTC day, `trend_windows_pYYYYMMDD`.
There is no DEFAULT partition: a window outside every partition fails its insert loudly
instead of piling up where retention cannot drop it, so whoever writes windows first makes
sure their days exist (`ensure_partitions`). SQLite keeps one plain table; every function
here does nothing there.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, text

from pipeline.storage.db import is_postgres

log = logging.getLogger(__name__)

TABLE = "trend_windows"
PARTITION_BY = "RANGE (window_end)"
DAY = timedelta(days=1)
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")
_DDL_LOCK = 0x66696E70  # "finp": one process at a time creates or drops partitions
# Creating or dropping a partition locks the whole table; a reader holding it up must not
# queue every other query behind the DDL. The step or the maintenance run is retried later.
_LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '5s'")


def partition_day(moment: datetime) -> date:
    """The UTC day whose partition holds a window ending at `moment`."""
    return moment.astimezone(UTC).date()


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def partition_of(name: str) -> date | None:
    """The day a partition named by `partition_name` holds; None for any other name."""
    found = _NAME.match(name)
    return None if found is None else datetime.strptime(found.group(1), "%Y%m%d").date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def days_between(lo: datetime, hi: datetime) -> list[date]:
    """Every partition day from lo's to hi's, both included."""
    first, last = partition_day(lo), partition_day(hi)
    return [first + DAY * n for n in range((last - first).days + 1)]


def create_partition_sql(parent: str, day: date) -> str:
    """DDL for one day's partition of `parent` (the migration names its new table here)."""
    lo, hi = day_start(day).isoformat(), day_start(day + DAY).isoformat()
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {parent}"
        f" FOR VALUES FROM ('{lo}') TO ('{hi}')"
    )


class _KnownDays:
    """The days known to have a partition, per engine: a step checks its days here, and reads
    the catalog only when one is missing. Thread-safe: the scheduler's jobs run in threads."""

    def __init__(self) -> None:
        self._days: WeakKeyDictionary[Engine, frozenset[date]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def all_known(self, engine: Engine, days: Iterable[date]) -> bool:
        with self._lock:
            return set(days) <= self._days.get(engine, frozenset())

    def replace(self, engine: Engine, days: Iterable[date]) -> None:
        with self._lock:
            self._days[engine] = frozenset(days)

    def discard(self, engine: Engine, day: date) -> None:
        with self._lock:
            self._days[engine] = self._days.get(engine, frozenset()) - {day}

    def forget(self, engine: Engine) -> None:
        with self._lock:
            self._days.pop(engine, None)


_KNOWN = _KnownDays()


def ensure_partitions(engine: Engine, lo: datetime, hi: datetime) -> list[str]:
    """Create the partitions that window ends in [lo, hi] fall into; the names created.

    Runs in its own short transaction, before the writer's: the new partition must be
    committed before rows go in, and a rolled-back step must not leave it half-known.
    """
    if not is_postgres(engine):
        return []
    wanted = days_between(lo, hi)
    if _KNOWN.all_known(engine, wanted):
        return []
    with engine.begin() as conn:
        _take_ddl_lock(conn)
        stored = stored_partition_days(conn)
        created = [day for day in wanted if day not in stored]
        for day in created:
            conn.execute(text(create_partition_sql(TABLE, day)))
    _KNOWN.replace(engine, stored | set(created))
    names = [partition_name(day) for day in created]
    if names:
        log.info("created trend window partitions %s", ", ".join(names))
    return names


def drop_partitions_before(engine: Engine, cutoff: datetime) -> list[str]:
    """Drop every partition whose windows all end before `cutoff`; the names dropped.

    The partition that straddles the cutoff stays: its older rows are deleted row by row.
    One transaction per partition keeps each lock of the table short.
    """
    if not is_postgres(engine):
        return []
    with engine.connect() as conn:
        stored = stored_partition_days(conn)
    doomed = sorted(day for day in stored if day_start(day + DAY) <= cutoff)
    for day in doomed:
        with engine.begin() as conn:
            _take_ddl_lock(conn)
            conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
        _KNOWN.discard(engine, day)
        log.info(
            "dropped trend window partition %s (windows before %s)",
            partition_name(day),
            cutoff.isoformat(),
        )
    return [partition_name(day) for day in doomed]


def forget_partitions(engine: Engine) -> None:
    """Re-read the catalog next time: another process may have dropped partitions meanwhile
    (a scheduler that regains leadership calls this)."""
    _KNOWN.forget(engine)


def stored_partition_days(conn: Connection) -> set[date]:
    """Days of the partitions attached to trend_windows; partitions named otherwise are not
    the project's and are left alone."""
    names: Iterable[str] = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": TABLE},
    ).scalars()
    return {day for day in map(partition_of, names) if day is not None}


def is_partition(name: str) -> bool:
    return partition_of(name) is not None


def _take_ddl_lock(conn: Connection) -> None:
    conn.execute(_LOCK_TIMEOUT)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
