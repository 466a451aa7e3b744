"""The sandbox's SQLite file: the engine, the schema and the demo merchant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.pool import StaticPool

from coffer.sandbox_pg.tables import merchants, metadata

DEMO_MERCHANT = {
    "merchant_id": "merchant_coffer_demo",
    "name": "Coffer demo",
    "client_key": "test_ck_coffer_demo",
    "secret_key": "test_sk_coffer_demo",
    "webhook_secret": "whsec_coffer_demo",
}


class Store:
    """The engine plus one lock: every transaction runs alone (SQLite, one small process)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.RLock()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self._lock, self.engine.begin() as conn:
            yield conn


def open_store(data_dir: Path) -> Engine:
    """Open (creating if needed) ``<data_dir>/sandbox-pg.sqlite3`` with its tables."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{data_dir / 'sandbox-pg.sqlite3'}",
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    metadata.create_all(engine)
    return engine


def ensure_default_merchant(data_dir: Path, engine: Engine | None = None) -> str:
    """Create the documented demo merchant if missing; return its id."""
    own = engine is None
    engine = engine or open_store(data_dir)
    try:
        with engine.begin() as conn:
            found = conn.execute(
                select(merchants.c.merchant_id).where(
                    merchants.c.merchant_id == DEMO_MERCHANT["merchant_id"]
                )
            ).first()
            if found is None:
                conn.execute(
                    insert(merchants).values(
                        **DEMO_MERCHANT, webhook_url=None, created_at=datetime.now(UTC)
                    )
                )
    finally:
        if own:
            engine.dispose()
    return DEMO_MERCHANT["merchant_id"]
