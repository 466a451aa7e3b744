"""The audit log: append-only rows in one hash chain that names the first row tampered with."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.audit.model import GENESIS
from coffer.audit.tables import audit_log
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import InvalidInput

COFFER = str(Path(sys.executable).parent / "coffer")
SERVICE = UUID("0190a000-0000-7000-8000-000000000001")


def _record(conn: Connection, clock: ManualClock, n: int, **changes: Any) -> UUID:
    values: dict[str, Any] = {
        "actor": "admin:ops@example.com",
        "action": "cash.grant",
        "target_type": "member",
        "target_id": f"member-{n}",
        "service_id": SERVICE,
        "before": {"bonus": 0},
        "after": {"bonus": 1000 * n, "journal_id": uuid4()},
        "reason": f"compensation #{n}",
        "address": "127.0.0.1",
        "now": clock.now(),
    }
    values.update(changes)
    return audit.record(conn, **values)


def _fill(db: Database, clock: ManualClock, count: int) -> list[UUID]:
    ids = []
    for n in range(1, count + 1):
        ids.append(db.write(lambda conn, n=n: _record(conn, clock, n)))
        clock.advance(timedelta(minutes=1))
    return ids


def test_rows_link_up_and_verify(db: Database, clock: ManualClock) -> None:
    assert db.read(audit.verify) is None  # an empty log is a valid chain
    ids = _fill(db, clock, 5)
    rows = db.read(lambda conn: conn.execute(select(audit_log).order_by(audit_log.c.seq)).all())
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert [row.id for row in rows] == ids
    assert rows[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
    assert db.read(audit.verify) is None


def test_a_row_is_written_only_with_its_transaction(db: Database, clock: ManualClock) -> None:
    _fill(db, clock, 2)

    def fails(conn: Connection) -> None:
        _record(conn, clock, 3)
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.write(fails)
    _fill(db, clock, 1)
    seqs = db.read(lambda conn: conn.execute(select(audit_log.c.seq)).scalars().all())
    assert sorted(seqs) == [1, 2, 3]
    assert db.read(audit.verify) is None


def test_bad_values_are_refused_and_nothing_is_written(db: Database, clock: ManualClock) -> None:
    for changes in (
        {"after": {"amount": 10.5}},
        {"actor": ""},
        {"reason": "nul\x00byte"},
        {"target_id": "x" * 400},
    ):
        with pytest.raises(InvalidInput):
            db.write(lambda conn, changes=changes: _record(conn, clock, 1, **changes))
    assert db.read(lambda conn: conn.execute(select(audit_log.c.id)).all()) == []


@pytest.mark.slow
def test_concurrent_appends_never_fork_the_chain(db: Database, clock: ManualClock) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            for k in range(index, 50, 8):
                db.write(lambda conn, k=k: _record(conn, clock, k + 1))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    seqs = db.read(lambda conn: conn.execute(select(audit_log.c.seq)).scalars().all())
    assert sorted(seqs) == list(range(1, 51))
    targets = db.read(lambda conn: conn.execute(select(audit_log.c.target_id)).scalars().all())
    assert sorted(targets) == sorted(f"member-{n}" for n in range(1, 51))
    assert db.read(audit.verify) is None


def _tamper(db: Database, statement: Any) -> None:
    db.write(lambda conn: conn.execute(statement))


def test_a_changed_reason_is_named(db: Database, clock: ManualClock) -> None:
    ids = _fill(db, clock, 6)
    _tamper(db, update(audit_log).where(audit_log.c.seq == 4).values(reason="nothing to see"))
    broken = db.read(audit.verify)
    assert broken is not None
    assert (broken.seq, broken.id) == (4, ids[3])
    assert "changed" in broken.why


def test_a_changed_amount_is_named(db: Database, clock: ManualClock) -> None:
    ids = _fill(db, clock, 6)
    _tamper(db, update(audit_log).where(audit_log.c.seq == 2).values(after={"bonus": 999_999}))
    broken = db.read(audit.verify)
    assert broken is not None
    assert (broken.seq, broken.id) == (2, ids[1])


def test_a_rewritten_hash_breaks_the_next_link(db: Database, clock: ManualClock) -> None:
    ids = _fill(db, clock, 4)
    _tamper(db, update(audit_log).where(audit_log.c.seq == 2).values(hash="f" * 64))
    broken = db.read(audit.verify)
    assert broken is not None
    assert (broken.seq, broken.id) == (2, ids[1])


def test_a_deleted_row_is_detected(db: Database, clock: ManualClock) -> None:
    ids = _fill(db, clock, 6)
    _tamper(db, delete(audit_log).where(audit_log.c.seq == 3))
    broken = db.read(audit.verify)
    assert broken is not None
    assert (broken.seq, broken.id) == (4, ids[3])
    assert "3..3 are missing" in broken.why


def test_deleting_the_newest_rows_is_detected(db: Database, clock: ManualClock) -> None:
    _fill(db, clock, 5)
    _tamper(db, delete(audit_log).where(audit_log.c.seq >= 4))
    broken = db.read(audit.verify)
    assert broken is not None
    assert broken.seq == 4
    assert broken.id is None
    assert "missing" in broken.why


def test_browse_filters_and_pages(db: Database, clock: ManualClock) -> None:
    _fill(db, clock, 7)
    other = uuid4()
    db.write(
        lambda conn: _record(
            conn, clock, 8, actor="admin:cs@example.com", action="cash.revoke", service_id=other
        )
    )
    page = db.read(lambda conn: audit.browse(conn, limit=3))
    assert [e.seq for e in page.entries] == [8, 7, 6]
    assert page.next_before_seq == 6
    page = db.read(lambda conn: audit.browse(conn, limit=3, before_seq=6))
    assert [e.seq for e in page.entries] == [5, 4, 3]
    assert page.next_before_seq == 3
    page = db.read(lambda conn: audit.browse(conn, limit=3, before_seq=3))
    assert [e.seq for e in page.entries] == [2, 1]
    assert page.next_before_seq is None

    def seqs(**filters: Any) -> list[int]:
        return [e.seq for e in db.read(lambda conn: audit.browse(conn, **filters)).entries]

    assert seqs(actor="admin:cs@example.com") == [8]
    assert seqs(action="cash.grant") == [7, 6, 5, 4, 3, 2, 1]
    assert seqs(service_id=other) == [8]
    assert seqs(target="member-3") == [3]
    assert seqs(target="member:member-5") == [5]
    start = clock.now() - timedelta(minutes=7)  # the first row's time
    assert seqs(date_from=start + timedelta(minutes=2), date_to=start + timedelta(minutes=4)) == [
        4,
        3,
    ]
    with pytest.raises(InvalidInput):
        db.read(lambda conn: audit.browse(conn, limit=0))


def _coffer(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COFFER_DATABASE_URL": database_url,
        "COFFER_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [COFFER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_coffer_audit_names_the_tampered_row(
    db: Database, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    ids = _fill(db, clock, 5)
    healthy = _coffer(database_url, tmp_path, "audit")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "hash chain intact" in healthy.stdout

    _tamper(db, update(audit_log).where(audit_log.c.seq == 3).values(reason="edited"))
    tampered = _coffer(database_url, tmp_path, "audit")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"chain broken at seq 3 (id {ids[2]})" in tampered.stdout


def test_coffer_audit_notices_a_deleted_row(
    db: Database, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    ids = _fill(db, clock, 5)
    _tamper(db, delete(audit_log).where(audit_log.c.seq == 2))
    result = _coffer(database_url, tmp_path, "audit")
    assert result.returncode == 1
    assert f"chain broken at seq 3 (id {ids[2]})" in result.stdout
    assert "missing" in result.stdout
