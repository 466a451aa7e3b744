"""The production handlers for the scheduled ledger jobs (expiry sweeps and the audit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from coffer.config import Settings
from coffer.db import idempotency
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.jobs import handlers
from coffer.jobs.context import JobContext
from coffer.jobs.schedule import (
    AUDIT_JOB,
    DEFAULT_SCHEDULE,
    EXPIRE_HOLDS_JOB,
    PURGE_IDEMPOTENCY_JOB,
)
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock
from coffer.kernel.ids import uuid7
from coffer.ledger import invariants
from coffer.ledger import service as ledger_service
from tests.ledger_helpers import new_service


def _jobs(db: Database) -> dict[str, tuple[str, str | None]]:
    rows = db.read(
        lambda conn: conn.execute(select(jobs.c.kind, jobs.c.status, jobs.c.last_error)).all()
    )
    return {row.kind: (row.status, row.last_error) for row in rows}


def test_scheduled_ledger_jobs_run_on_a_sound_ledger(db: Database, clock: ManualClock) -> None:
    worker = Worker(
        db, clock, handlers.default_handlers(Settings.from_env({})), worker_id="w", scheduler=True
    )

    assert worker.run_once() == len(DEFAULT_SCHEDULE)

    assert {kind: status for kind, (status, _) in _jobs(db).items()} == {
        entry.kind: "done" for entry in DEFAULT_SCHEDULE
    }


def test_audit_fails_the_job_listing_every_violation(
    db: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    found = [
        invariants.Violation("journal_balanced", "journal J1 sums to 5 KRW"),
        invariants.Violation("wallet_not_negative", "wallet W1 is negative"),
    ]
    monkeypatch.setattr(invariants, "check_all", lambda conn: found)
    worker = Worker(db, clock, {AUDIT_JOB: handlers.audit}, worker_id="w", scheduler=True)
    worker.schedule = tuple(e for e in DEFAULT_SCHEDULE if e.kind == AUDIT_JOB)

    worker.run_once()

    status, error = _jobs(db)[AUDIT_JOB]
    assert status == "pending"
    assert error is not None
    assert error.startswith("AuditFailed: 2 ledger invariant violation(s):\n")
    assert "- journal_balanced: journal J1 sums to 5 KRW\n" in error
    assert "- wallet_not_negative: wallet W1 is negative" in error
    assert "journal J1 sums to 5 KRW" in caplog.text


def test_expiry_keeps_calling_the_ledger_while_batches_come_back_full(
    db: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = [handlers.EXPIRY_BATCH, handlers.EXPIRY_BATCH, 7, 99]
    calls: list[dict[str, Any]] = []

    def fake_expire_holds(db: Database, clock: Any, resolve: Any, *, limit: int) -> int:
        calls.append({"limit": limit, "resolve": resolve})
        return results.pop(0)

    monkeypatch.setattr(ledger_service, "expire_holds", fake_expire_holds)
    worker = Worker(
        db, clock, {EXPIRE_HOLDS_JOB: handlers.expire_holds}, worker_id="w", scheduler=True
    )
    worker.schedule = tuple(e for e in DEFAULT_SCHEDULE if e.kind == EXPIRE_HOLDS_JOB)

    worker.run_once()

    assert len(calls) == 3
    assert {c["limit"] for c in calls} == {handlers.EXPIRY_BATCH}
    assert _jobs(db)[EXPIRE_HOLDS_JOB] == ("done", None)
    clock.advance(timedelta(seconds=30))
    worker.run_once()
    assert len(calls) == 4


def test_expiry_jobs_expire_a_real_hold_and_lot(db: Database, clock: ManualClock) -> None:
    from coffer import app
    from coffer.ledger.tables import holds, lots

    def setup(conn: Any) -> None:
        service, _ = app.create_service(
            conn, name="Game", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        member = app.create_member(conn, service, "m-1", clock=clock)
        wallet = app.wallet_ref(service, member)
        now = clock.now()
        ledger_service.grant(
            conn,
            wallet,
            amount=1000,
            kind="bonus",
            source="event",
            actor="test",
            now=now,
            expires_at=now + timedelta(hours=1),
        )
        ledger_service.grant(
            conn,
            wallet,
            amount=500,
            kind="paid",
            source="admin",
            actor="test",
            now=now,
            reason="opening balance",
        )
        ledger_service.reserve(
            conn,
            wallet,
            amount=300,
            expires_in_seconds=60,
            reference="r-1",
            actor="test",
            now=now,
        )

    db.write(setup)
    worker = Worker(
        db, clock, handlers.default_handlers(Settings.from_env({})), worker_id="w", scheduler=True
    )
    worker.run_once()  # first firing of each entry: nothing is due yet
    clock.advance(timedelta(hours=1, seconds=1))
    worker.run_once()

    hold_statuses = db.read(lambda conn: conn.execute(select(holds.c.status)).scalars().all())
    bonus_left = db.read(
        lambda conn: (
            conn.execute(select(lots.c.remaining).where(lots.c.kind == "bonus")).scalars().all()
        )
    )
    assert hold_statuses == ["expired"]
    assert bonus_left == [0]
    assert db.read(invariants.check_all) == []
    statuses = _jobs(db)
    assert {statuses[entry.kind][0] for entry in DEFAULT_SCHEDULE} == {"done"}


def test_purge_forgets_idempotency_keys_after_their_retention(
    db: Database, clock: ManualClock
) -> None:
    service = new_service(db, clock)
    old = clock.now()
    db.write(lambda conn: idempotency.claim(conn, service.id, "old-key", "h1", old))
    clock.advance(idempotency.RETENTION)
    db.write(lambda conn: idempotency.claim(conn, service.id, "new-key", "h2", clock.now()))
    clock.advance(timedelta(seconds=1))
    context = JobContext(db, clock, uuid7(), PURGE_IDEMPOTENCY_JOB, None, 1, 3)
    handlers.purge_idempotency_keys(context, {})
    left = db.read(
        lambda conn: conn.execute(select(idempotency.idempotency_keys.c.key)).scalars().all()
    )
    assert left == ["new-key"]


def test_purge_deletes_ended_admin_and_cash_sessions(db: Database, clock: ManualClock) -> None:
    from datetime import timedelta as minutes_apart

    from sqlalchemy import func

    from coffer import app
    from coffer.admins import service as admins
    from coffer.admins.tables import admin_sessions
    from coffer.tenancy import cash_sessions
    from coffer.tenancy import service as tenancy
    from coffer.tenancy.links import build_link
    from coffer.tenancy.tables import cash_sessions as cash_table

    service = new_service(db, clock)
    db.write(lambda c: app.create_member(c, service, "alice", clock=clock))
    admin = db.write(
        lambda c: admins.create_admin(
            c, email="ops@example.com", role="operator", password="long-enough-pw", now=clock.now()
        )
    )

    def open_admin_session() -> UUID:
        return db.write(
            lambda c: admins.open_session(
                c, admin.id, now=clock.now(), address="127.0.0.1", user_agent="test"
            )
        ).id

    def open_cash_session() -> None:
        secret = db.read(lambda c: tenancy.link_secret(c, service.id))
        link = build_link("http://x", secret, service.id, "alice", int(clock.now().timestamp()))
        params = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
        db.write(lambda c: cash_sessions.open_from_link(c, params, now=clock.now()))

    revoked = open_admin_session()
    db.write(lambda c: admins.revoke_session(c, revoked, now=clock.now()))
    open_admin_session()  # goes idle
    open_cash_session()  # goes idle
    clock.advance(minutes_apart(minutes=31))
    live = open_admin_session()

    context = JobContext(db, clock, uuid7(), "sessions.purge", None, 1, 3)
    handlers.purge_sessions(context, {})

    left = db.read(lambda c: c.execute(select(admin_sessions.c.id)).scalars().all())
    assert left == [live]
    assert db.read(lambda c: c.execute(select(func.count()).select_from(cash_table)).scalar()) == 0
