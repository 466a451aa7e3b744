from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.db.transaction import Database
from tests.payments.world import World, build_world, sandbox_url

__all__ = ["sandbox_url"]


@pytest.fixture
def world(db: Database, sandbox_url: str, tmp_path: Path) -> Iterator[World]:
    yield from build_world(db, sandbox_url, tmp_path)
