"""Test database plumbing shared by ``conftest.py`` and the migration tests.

PostgreSQL comes from ``COFFER_TEST_DATABASE_URL`` (``make test`` starts a throwaway server and
sets it). Without it the PostgreSQL half of the suite is skipped, except under CI (``CI=true``),
where a missing server is an error: CI must never pass by silently testing SQLite only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

PG_URL_ENV = "COFFER_TEST_DATABASE_URL"

#: The ``database_url`` params; ``-m sqlite`` / ``-m postgresql`` select one dialect.
SQLITE = pytest.param("sqlite", id="sqlite", marks=pytest.mark.sqlite)
POSTGRESQL = pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql)
DIALECTS = [SQLITE, POSTGRESQL]

#: SQLSTATE insufficient_privilege: the role may not CREATE DATABASE.
_INSUFFICIENT_PRIVILEGE = "42501"


def require_postgresql_url() -> str:
    """Return the PostgreSQL server URL, or skip (locally) / fail (in CI) without one."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    if url:
        return url
    message = f"{PG_URL_ENV} is not set; `make test` starts a PostgreSQL server and sets it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {message}", pytrace=False)
    pytest.skip(message)


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def create_postgresql_database(server_url: str, name: str) -> str:
    """(Re)create database ``name`` on the server of ``server_url``; return its URL.

    Falls back to resetting the ``public`` schema of ``server_url``'s own database when the role
    may not create databases (then ``name`` is ignored).
    """
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        with admin.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        return server_url
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgresql_database(server_url: str, database_url: str) -> None:
    """Drop a database made by :func:`create_postgresql_database` (not the server's own)."""
    name = make_url(database_url).database
    if name is None or name == make_url(server_url).database:
        return
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_postgresql_tables(engine: Engine, metadata: MetaData) -> None:
    """Delete every row of every table in ``metadata`` (PostgreSQL), children first.

    ``DELETE`` rather than ``TRUNCATE``: with ``fsync=on`` a TRUNCATE of the ~15 tables costs
    ~55 ms (new relation files are synced) against ~1 ms for deleting the few rows a test leaves.
    A foreign-key cycle that the delete order cannot satisfy falls back to ``TRUNCATE CASCADE``.
    """
    preparer = engine.dialect.identifier_preparer
    tables = [preparer.format_table(table) for table in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        # Fail rather than hang if an earlier test leaked a transaction holding locks.
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        try:
            with conn.begin_nested():
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
        except IntegrityError:
            conn.execute(text(f"TRUNCATE TABLE {', '.join(tables)} CASCADE"))


def copy_sqlite_database(source: Path, target: Path) -> None:
    """Copy a SQLite database file together with its ``-wal``/``-shm`` files if present."""
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):
        extra = source.with_name(source.name + suffix)
        if extra.exists():
            shutil.copyfile(extra, target.with_name(target.name + suffix))
