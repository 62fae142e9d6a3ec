"""trend windows partitioned by day of window_end on PostgreSQL; SQLite keeps the plain table

The table is rebuilt, not altered (PostgreSQL cannot partition a table in place): a new
table of the same columns, one partition per day that holds rows, the rows copied, the old
table dropped, the new one renamed, its key, index and grants made again. Downgrade rebuilds
a plain table the same way. Both keep every row, under one exclusive lock.

Revision ID: 0007_partition_windows
Revises: 0006_mention_relevance
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection, text

from pipeline.storage.partitions import PARTITION_BY, TABLE, create_partition_sql

revision = "0007_partition_windows"
down_revision = "0006_mention_relevance"
branch_labels = None
depends_on = None

REBUILT = f"{TABLE}_rebuilt"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _rebuild(bind, partitioned=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _rebuild(bind, partitioned=False)


def _rebuild(bind: Connection, partitioned: bool) -> None:
    # Exclusive from the start: a window written between the copy and the drop would be lost.
    bind.execute(text(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE"))
    grants = _grants(bind)
    layout = f" PARTITION BY {PARTITION_BY}" if partitioned else ""
    bind.execute(text(f"CREATE TABLE {REBUILT} (LIKE {TABLE} INCLUDING DEFAULTS){layout}"))
    if partitioned:
        days = bind.execute(
            text(f"SELECT DISTINCT CAST(window_end AT TIME ZONE 'UTC' AS date) FROM {TABLE}")
        ).scalars()
        for day in sorted(days):
            bind.execute(text(create_partition_sql(REBUILT, day)))
    # Keys and indexes are built after the copy: one sort each, not one insert per row.
    bind.execute(text(f"INSERT INTO {REBUILT} SELECT * FROM {TABLE}"))
    bind.execute(text(f"DROP TABLE {TABLE}"))
    bind.execute(text(f"ALTER TABLE {REBUILT} RENAME TO {TABLE}"))
    bind.execute(
        text(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_{TABLE} PRIMARY KEY (scope, window_end)")
    )
    bind.execute(text(f"CREATE INDEX ix_{TABLE}_window_end ON {TABLE} (window_end)"))
    for grant in grants:
        bind.execute(text(grant))
    bind.execute(text(f"ANALYZE {TABLE}"))


def _grants(bind: Connection) -> list[str]:
    """The table's grants as GRANT statements (the reporting role's, and any an operator
    added): the rebuilt table is a new relation and starts with none."""
    rows = bind.execute(
        text(
            "SELECT a.privilege_type, a.is_grantable,"
            " CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END"
            " FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
            " LEFT JOIN pg_roles r ON r.oid = a.grantee"
            " WHERE c.oid = to_regclass(:table) AND a.grantee <> c.relowner"
        ),
        {"table": TABLE},
    ).all()
    return [
        f"GRANT {privilege} ON {TABLE} TO {grantee}" + (" WITH GRANT OPTION" if grantable else "")
        for privilege, grantable, grantee in rows
    ]
