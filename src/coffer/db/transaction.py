"""One way to run a unit of work in a database transaction, retried when the database says so.

Callers pass a function of a connection; it runs in a transaction and may run more than once
(PostgreSQL serialization failures and deadlocks, SQLite "database is locked"), so it must not
have side effects outside the database. Never call a PG from inside it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from coffer.db.engine import SQLITE_BEGIN

T = TypeVar("T")

#: SQLSTATEs after which the whole transaction is safely retried.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

MAX_ATTEMPTS = 8


def is_retryable(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


class Database:
    """An engine plus the transaction helper; what every service function is handed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._reader = engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction (``BEGIN IMMEDIATE`` on SQLite), with retries."""
        return self._run(self.engine, work)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read-only transaction (a deferred ``BEGIN`` on SQLite)."""
        return self._run(self._reader, work)

    @staticmethod
    def _run(engine: Engine, work: Callable[[Connection], T]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with engine.begin() as conn:
                    return work(conn)
            except DBAPIError as error:
                if attempt == MAX_ATTEMPTS or not is_retryable(error):
                    raise
                time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()
