"""Engines and transactions as DESIGN section 6 asks: pragmas, BEGIN IMMEDIATE, retries."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from coffer.db import transaction
from coffer.db.engine import make_engine, sqlite_url
from coffer.db.transaction import Database
from tests.databases import POSTGRESQL

scratch = MetaData()
counter = Table(
    "test_counter",
    scratch,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", Integer, nullable=False),
)


@pytest.fixture
def counter_db(db: Database) -> Iterator[Database]:
    """``db`` with a one-row scratch table ``test_counter`` (dropped afterwards)."""
    scratch.drop_all(db.engine)
    scratch.create_all(db.engine)
    db.write(lambda conn: conn.execute(insert(counter).values(id=1, value=0)))
    yield db
    scratch.drop_all(db.engine)


def _value(db: Database) -> int:
    return int(db.read(lambda conn: conn.execute(select(counter.c.value)).scalar_one()))


def _increment(conn: Connection) -> None:
    # Read-modify-write: correct only if the write transaction holds the row (PostgreSQL:
    # FOR UPDATE) or the whole database (SQLite: BEGIN IMMEDIATE) from its first read.
    value = conn.execute(select(counter.c.value).where(counter.c.id == 1).with_for_update())
    conn.execute(update(counter).where(counter.c.id == 1).values(value=value.scalar_one() + 1))


def _run_threads(count: int, target: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as error:
            errors.append(error)
            raise

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


# --- SQLite engine set-up -------------------------------------------------------------------


def test_sqlite_connection_pragmas(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "pragmas.sqlite3"))
    try:
        with engine.connect() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30_000
    finally:
        engine.dispose()


def test_sqlite_write_begins_immediate_and_read_does_not(tmp_path: Path) -> None:
    path = tmp_path / "locks.sqlite3"
    db = Database(make_engine(sqlite_url(path)))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        db.read(lambda conn: conn.exec_driver_sql("SELECT 1").all())  # creates the WAL file

        def other_writer_is_locked_out(conn: Connection) -> None:
            # Nothing has been read or written yet: the lock comes from BEGIN IMMEDIATE itself.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")

        def other_writer_gets_in(conn: Connection) -> None:
            conn.exec_driver_sql("SELECT 1").all()
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")

        db.write(other_writer_is_locked_out)
        db.read(other_writer_gets_in)
    finally:
        other.close()
        db.dispose()


# --- both databases -------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_read_modify_write_loses_no_update(counter_db: Database) -> None:
    threads, increments = 2, 200
    calls = 0
    lock = threading.Lock()

    def work(conn: Connection) -> None:
        nonlocal calls
        with lock:
            calls += 1
        _increment(conn)

    def worker() -> None:
        for _ in range(increments):
            counter_db.write(work)

    _run_threads(threads, worker)
    assert _value(counter_db) == threads * increments
    # Writers queue on the lock instead of failing and retrying.
    assert calls == threads * increments


@pytest.mark.parametrize(
    "error_class",
    [psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected],
    ids=["40001", "40P01"],
)
def test_write_retries_the_whole_transaction_on_retryable_sqlstate(
    counter_db: Database, error_class: type[psycopg.Error]
) -> None:
    calls = 0

    def work(conn: Connection) -> int:
        nonlocal calls
        calls += 1
        _increment(conn)
        if calls == 1:
            raise DBAPIError("UPDATE test_counter ...", None, error_class("simulated"))
        return calls

    assert counter_db.write(work) == 2
    assert _value(counter_db) == 1  # the first attempt was rolled back


def test_write_does_not_retry_other_errors(counter_db: Database) -> None:
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        _increment(conn)
        raise DBAPIError("INSERT ...", None, psycopg.errors.UniqueViolation("simulated"))

    with pytest.raises(DBAPIError):
        counter_db.write(work)
    assert calls == 1
    assert _value(counter_db) == 0


def test_write_gives_up_after_max_attempts(
    counter_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("coffer.db.transaction.time.sleep", lambda _seconds: None)
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        raise DBAPIError("UPDATE ...", None, psycopg.errors.SerializationFailure("simulated"))

    with pytest.raises(DBAPIError):
        counter_db.write(work)
    assert calls == transaction.MAX_ATTEMPTS


# --- PostgreSQL: a real serialization failure -----------------------------------------------


@pytest.mark.parametrize("database_url", [POSTGRESQL], indirect=True)
def test_postgresql_serialization_failure_is_retried(counter_db: Database) -> None:
    serializable = Database(counter_db.engine.execution_options(isolation_level="SERIALIZABLE"))
    both_read = threading.Barrier(2, timeout=30)
    attempts: list[int] = []
    lock = threading.Lock()

    def work(conn: Connection) -> None:
        with lock:
            attempts.append(1)
            first_round = len(attempts) <= 2
        value = conn.execute(select(counter.c.value).where(counter.c.id == 1)).scalar_one()
        if first_round:
            both_read.wait()  # both transactions have read the same snapshot
        conn.execute(update(counter).where(counter.c.id == 1).values(value=value + 1))

    _run_threads(2, lambda: serializable.write(work))
    assert _value(counter_db) == 2  # no lost update
    assert len(attempts) >= 3  # at least one transaction failed with 40001 and ran again
