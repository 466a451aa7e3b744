"""``INSERT … ON CONFLICT DO NOTHING`` on both dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_if_absent(
    conn: Connection, table: Table, values: dict[str, Any], *, conflict_on: list[str]
) -> bool:
    """Insert a row unless one with the same ``conflict_on`` columns exists.

    Returns True when this call inserted it. Uses ``RETURNING`` rather than ``rowcount``, which
    psycopg reports as -1 for inserts.
    """
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        .returning(*(table.c[name] for name in conflict_on))
    )
    return conn.execute(statement).first() is not None
