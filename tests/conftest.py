"""Fixtures every test relies on.

- ``database_url``: parametrized over ``sqlite`` and ``postgresql`` (test ids ``[sqlite]`` and
  ``[postgresql]``), migrated to head and empty. SQLite: a per-test copy of a template file
  migrated once per session. PostgreSQL: a database ``<name>_<pid>`` on the server of
  ``COFFER_TEST_DATABASE_URL`` migrated once per session, every table emptied before each test.
- ``db``: a :class:`coffer.db.transaction.Database` on ``database_url``, disposed afterwards.
- ``clock``: a :class:`coffer.kernel.clock.ManualClock` at 2026-03-01T00:00Z.

Only tests that use ``database_url`` (directly or through ``db``) run twice; the rest run once.
Select one dialect with ``-m sqlite`` or ``-m postgresql``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coffer.db.engine import make_engine, sqlite_url
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.databases import (
    DIALECTS,
    copy_sqlite_database,
    create_postgresql_database,
    drop_postgresql_database,
    empty_postgresql_tables,
    require_postgresql_url,
)

CLOCK_START = datetime(2026, 3, 1, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite: runs against SQLite (database_url param)")
    config.addinivalue_line("markers", "postgresql: runs against PostgreSQL (database_url param)")


def _migrate(url: str) -> None:
    # Imported here so that a broken table module fails the database tests, not collection.
    from coffer.migrations import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "coffer.sqlite3"
    _migrate(sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def _postgresql_session() -> Iterator[tuple[str, Callable[[], None]]]:
    """(url of the migrated session database, a function that empties its tables)."""
    from coffer.migrations.schema import metadata

    server_url = require_postgresql_url()
    url = create_postgresql_database(server_url, f"coffer_test_{os.getpid()}")
    engine = make_engine(url, pool_size=1)
    try:
        _migrate(url)
        yield url, lambda: empty_postgresql_tables(engine, metadata)
    finally:
        engine.dispose()
        drop_postgresql_database(server_url, url)


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database; once per dialect."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "coffer.sqlite3"
        copy_sqlite_database(template, path)
        return sqlite_url(path)
    url: str
    url, empty_tables = request.getfixturevalue("_postgresql_session")
    empty_tables()
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(make_engine(database_url))
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)
