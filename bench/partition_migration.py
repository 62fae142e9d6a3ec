"""Time the migration that partitions trend_windows, on a table that already holds rows.

  python -m bench.partition_migration                  # 1M windows over 30 days
  python -m bench.partition_migration --rows 20000     # smoke; bench/results/smoke/

A fresh database on the configured PostgreSQL is migrated to the revision before the
partitioning one, loaded with synthetic windows (1,020 scopes: the market, 19 topics and
1,000 tickers, the shape of a 1,000-ticker deployment, thinned in time to fit the row count),
vacuumed and analyzed; then `upgrade` and `downgrade` are timed and the rows checked after each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from pipeline.storage.migrate import alembic_config, downgrade, upgrade

ROOT = Path(__file__).resolve().parents[1]
REVISION = "0007_partition_windows"
SCOPES = 1020

LOAD_SQL = """
INSERT INTO trend_windows (scope, window_end, window_start, scope_kind, count, sources, negative,
    positive, negative_share, positive_share, mean_score, reprint_adjusted, model_version,
    computed_at)
SELECT CASE WHEN s = 0 THEN 'market' WHEN s < 20 THEN 'topic:T' || s ELSE 'ticker:X' || s END,
    e.at, e.at - interval '1 hour',
    CASE WHEN s = 0 THEN 'market' WHEN s < 20 THEN 'topic' ELSE 'ticker' END,
    10 + s % 7, 3, s % 4, s % 3, (s % 4) / 10.0, (s % 3) / 10.0, 0.1, 9, 'bench', e.at
FROM generate_series(0, :ends - 1) AS k
CROSS JOIN LATERAL (SELECT CAST(:start AS timestamptz) + k * make_interval(secs => :gap) AS at) e
CROSS JOIN generate_series(0, :scopes - 1) AS s
"""


def main() -> None:
    args = parse()
    load_at_start = round(os.getloadavg()[0], 2)
    url = fresh_database(args.admin_url, args.database)
    previous = ScriptDirectory.from_config(alembic_config(url)).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    upgrade(url, previous)
    engine = create_engine(url)
    try:
        loaded = load(engine, args)
        result = {
            "rows": loaded,
            "days": args.days,
            "scopes": SCOPES,
            "load_average_1m_at_start": load_at_start,
        }
        result["upgrade_seconds"] = timed(lambda: upgrade(url, REVISION))
        result["partitions"], result["rows_after_upgrade"] = partitions_and_rows(engine)
        result["downgrade_seconds"] = timed(lambda: downgrade(url, previous))
        result["rows_after_downgrade"] = partitions_and_rows(engine)[1]
    finally:
        engine.dispose()
    if not args.keep:
        drop_database(args.admin_url, args.database)
    write({**result, **context()}, smoke=args.rows < 1_000_000)


def parse() -> argparse.Namespace:
    port = os.environ.get("FINSENT_PG_PORT", "5432")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="windows loaded (rounded to scopes)")
    p.add_argument("--days", type=int, default=30, help="days the windows span")
    p.add_argument(
        "--admin-url", default=f"postgresql+psycopg://finsent:finsent@127.0.0.1:{port}/finsent"
    )
    p.add_argument("--database", default="finsent_bench_partitions")
    p.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    return p.parse_args()


def _libpq(admin_url: str) -> str:
    return make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(engine: Engine, args: argparse.Namespace) -> int:
    """`rows` windows ending evenly over `days` days before the current hour; rows loaded."""
    ends = max(1, math.ceil(args.rows / SCOPES))
    span = args.days * 86400
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp() - span
    params = {
        "ends": ends,
        "scopes": SCOPES,
        "gap": span / ends,
        "start": datetime.fromtimestamp(start, UTC),
    }
    with engine.begin() as conn:
        conn.execute(text(LOAD_SQL), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE trend_windows"))
    return partitions_and_rows(engine)[1]


def partitions_and_rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        partitions = conn.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'trend_windows'::regclass")
        ).scalar_one()
        rows = conn.execute(text("SELECT count(*) FROM trend_windows")).scalar_one()
    return int(partitions), int(rows)


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 2)


def context() -> dict[str, Any]:
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "git_sha": sha or "unknown",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def write(result: dict[str, Any], smoke: bool) -> None:
    out = ROOT / "bench" / "results" / ("smoke" if smoke else "") / "partition_migration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
