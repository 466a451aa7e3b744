"""Engines per dialect, set up the way DESIGN §6 asks.

SQLite: WAL, ``synchronous=FULL``, foreign keys on, a busy timeout, and the driver's own
transaction handling switched off so that we open every transaction ourselves: write
transactions with ``BEGIN IMMEDIATE`` (without it a read-modify-write silently loses updates),
read-only ones with a plain ``BEGIN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Execution option naming how a SQLite transaction begins ("IMMEDIATE" or "DEFERRED").
SQLITE_BEGIN = "coffer_sqlite_begin"


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool_size)
    if url.startswith("postgresql"):
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_pre_ping=True,
            isolation_level="READ COMMITTED",
        )
    raise ValueError(f"unsupported database URL {url!r}: use sqlite or postgresql+psycopg")


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    # Connections are pooled, not opened per transaction: opening one re-runs the PRAGMAs, and
    # closing the last one checkpoints the WAL, which made every transaction ~10x slower.
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
