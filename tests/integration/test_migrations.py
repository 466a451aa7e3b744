"""The migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from coffer.db.engine import make_engine, sqlite_url
from coffer.migrations import alembic_config, check, upgrade
from coffer.migrations.schema import metadata
from tests.databases import (
    DIALECTS,
    create_postgresql_database,
    drop_postgresql_database,
    require_postgresql_url,
)


@pytest.fixture(params=DIALECTS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_url(tmp_path / "empty.sqlite3"))
        yield engine
        engine.dispose()
        return
    server_url = require_postgresql_url()
    url = create_postgresql_database(server_url, f"coffer_test_{os.getpid()}_empty")
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_postgresql_database(server_url, url)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def test_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    assert len(script.get_heads()) == 1, "several migration heads: merge them"
    assert len(script.get_bases()) == 1


def test_upgrade_builds_every_table_without_drift(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()
    upgrade(empty_engine)
    assert _tables(empty_engine) == set(metadata.tables) | {"alembic_version"}
    check(empty_engine)  # raises if the tables in code differ from what the migrations built
    upgrade(empty_engine)  # already at head: a no-op


def test_downgrade_to_base_and_up_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    _downgrade(empty_engine, "base")
    assert _tables(empty_engine) <= {"alembic_version"}
    upgrade(empty_engine)
    check(empty_engine)
