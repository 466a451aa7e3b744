"""Customer grades on both databases: the paid-charges query, rules, recompute, overrides and
the daily job through the worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.config import Settings
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.grades import service as grades
from coffer.grades.model import GradeRule
from coffer.grades.service import RecomputeResult
from coffer.grades.tables import grade_history, grade_overrides, grade_rules
from coffer.jobs import handlers
from coffer.jobs.schedule import DEFAULT_SCHEDULE, GRADES_JOB
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.ledger import service as ledger
from coffer.ledger.queries import paid_charges_by_member
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member
from tests.integration.test_api_support import World, ok
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service

DAY = timedelta(days=1)
RULES = [
    GradeRule("bronze", 0, 0, 90),
    GradeRule("silver", 10, 100_000, 90),
    GradeRule("gold", 20, 300_000, 90),
]


def charge(db: Database, clock: ManualClock, who: Account, amount: int) -> ledger.GrantResult:
    return db.write(
        lambda c: ledger.grant(
            c, who.wallet, amount=amount, kind="paid", source="charge", actor="test",
            now=clock.now(),
        )
    )  # fmt: skip


def refund(
    db: Database, clock: ManualClock, who: Account, lot_id: UUID, amount: int
) -> ledger.SpendResult:
    return db.write(
        lambda c: ledger.withdraw_charge(
            c, who.wallet, lot_id, amount=amount, reference="refund-1", actor="test",
            now=clock.now(),
        )
    )  # fmt: skip


def paid(db: Database, who: Account, since: object, ids: list[UUID] | None = None) -> object:
    return db.read(
        lambda c: paid_charges_by_member(c, who.service.id, since, ids)  # type: ignore[arg-type]
    )


def member(db: Database, who: Account) -> Member:
    return db.read(lambda c: tenancy.get_member_by_id(c, who.service.id, who.member.id))


def history(db: Database, who: Account) -> list[tuple[str, str, str]]:
    found = db.read(lambda c: grades.history(c, who.member.id, 50))
    return [(h.from_grade, h.to_grade, h.source) for h in reversed(found)]


def override(
    db: Database, clock: ManualClock, who: Account, grade: str, *, until: Any, reason: str
) -> grades.Override:
    return db.write(
        lambda c: grades.override(
            c, who.service.id, member(db, who), grade, until=until, reason=reason,
            actor="admin:cs@example.com", now=clock.now(),
        )
    )  # fmt: skip


def clear(db: Database, clock: ManualClock, who: Account) -> str:
    return db.write(
        lambda c: grades.clear_override(
            c, who.service.id, member(db, who), actor="admin:cs", now=clock.now()
        )
    )


def set_grade(db: Database, clock: ManualClock, stale: Member, grade: str) -> bool:
    return db.write(
        lambda c: grades.set_grade(
            c, stale.service_id, stale, grade, source="admin", detail=None, actor="a",
            now=clock.now(),
        )
    )  # fmt: skip


def set_rules(db: Database, clock: ManualClock, service_id: UUID) -> None:
    db.write(lambda c: grades.set_rules(c, service_id, RULES, "admin:x", clock.now()))


def recompute(db: Database, clock: ManualClock, service_id: UUID) -> RecomputeResult:
    return db.write(lambda c: grades.recompute(c, service_id, clock.now()))


def count(db: Database, table: object) -> int:
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))  # type: ignore[arg-type]


# --- the paid-charges query -----------------------------------------------------------------


def test_paid_charges_net_of_refunds_and_refused_refunds(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    alice, bob = new_member(db, clock, service, "alice"), new_member(db, clock, service, "bob")
    since = clock.now()
    first = charge(db, clock, alice, 50_000)
    charge(db, clock, alice, 20_000)
    charge(db, clock, bob, 7_000)
    # Bonus cash and paid cash from other sources are not charges.
    db.write(lambda c: ledger.grant(c, alice.wallet, amount=999, kind="paid", source="admin",
                                    actor="t", now=clock.now(), reason="gift"))  # fmt: skip
    db.write(lambda c: ledger.grant(c, alice.wallet, amount=888, kind="bonus", source="charge",
                                    actor="t", now=clock.now()))  # fmt: skip
    # Spending cash does not lower what was charged.
    db.write(lambda c: ledger.spend(c, bob.wallet, amount=5_000, reference="x", actor="t",
                                    now=clock.now()))  # fmt: skip
    assert paid(db, alice, since) == {alice.member.id: 70_000, bob.member.id: 7_000}

    partial = refund(db, clock, alice, first.lot_id, 15_000)
    assert paid(db, alice, since) == {alice.member.id: 55_000, bob.member.id: 7_000}

    # The PG refused the cancel: the refund is reversed and counts as paid again.
    db.write(lambda c: ledger.reverse_charge_withdrawal(c, alice.wallet, partial.journal_id,
                                                        actor="t", now=clock.now()))  # fmt: skip
    assert paid(db, alice, since) == {alice.member.id: 70_000, bob.member.id: 7_000}

    refund(db, clock, alice, first.lot_id, 50_000)
    assert paid(db, alice, since) == {alice.member.id: 20_000, bob.member.id: 7_000}
    assert paid(db, alice, since, [bob.member.id]) == {bob.member.id: 7_000}
    assert paid(db, alice, since, []) == {}
    assert_invariants(db)


def test_the_window_starts_at_since_inclusive(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    alice = new_member(db, clock, service, "alice")
    other = new_member(db, clock, new_service(db, clock, name="Other"), "alice")
    charge(db, clock, alice, 1_000)
    edge = clock.now() + DAY
    clock.set(edge)
    charge(db, clock, alice, 2_000)
    charge(db, clock, other, 4_000)
    clock.advance(timedelta(microseconds=1))
    charge(db, clock, alice, 3_000)
    # A refund made later still lowers the lot's figure; lots before the window do not count.
    assert paid(db, alice, edge) == {alice.member.id: 5_000}
    assert paid(db, alice, edge + timedelta(microseconds=1)) == {alice.member.id: 3_000}
    assert paid(db, alice, edge - timedelta(microseconds=1)) == {alice.member.id: 5_000}
    assert paid(db, alice, edge - 2 * DAY) == {alice.member.id: 6_000}


# --- rules ----------------------------------------------------------------------------------


def test_rules_replace_the_set_and_bad_sets_change_nothing(
    db: Database, clock: ManualClock
) -> None:
    service = new_service(db, clock)
    assert db.read(lambda c: grades.rules(c, service.id)) == []
    set_rules(db, clock, service.id)
    assert db.read(lambda c: grades.rules(c, service.id)) == RULES
    with pytest.raises(InvalidInput) as refused:
        db.write(
            lambda c: grades.set_rules(
                c, service.id, [GradeRule("a", 1, 5, 30)], "admin:x", clock.now()
            )
        )
    assert refused.value.code == "invalid_grade_rules"
    assert db.read(lambda c: grades.rules(c, service.id)) == RULES
    two = [GradeRule("plain", 0, 0, 30), GradeRule("star", 1, 10, 30)]
    db.write(lambda c: grades.set_rules(c, service.id, two, "admin:x", clock.now()))
    assert db.read(lambda c: grades.rules(c, service.id)) == two
    assert count(db, grade_rules) == 2


# --- recompute ------------------------------------------------------------------------------


def test_recompute_promotes_demotes_and_writes_history_only_on_change(
    db: Database, clock: ManualClock
) -> None:
    service = new_service(db, clock)
    alice, bob = new_member(db, clock, service, "alice"), new_member(db, clock, service, "bob")
    carol = new_member(db, clock, service, "carol")
    # Without rules nothing happens.
    assert recompute(db, clock, service.id) == RecomputeResult(0, 0, 0)
    set_rules(db, clock, service.id)
    first = charge(db, clock, alice, 300_000)
    charge(db, clock, bob, 100_000)

    assert recompute(db, clock, service.id) == RecomputeResult(3, 0, 0)
    assert [member(db, w).grade for w in (alice, bob, carol)] == ["gold", "silver", "bronze"]
    assert history(db, alice) == [("basic", "gold", "rule")]
    latest = db.read(lambda c: grades.history(c, alice.member.id, 1))[0]
    assert latest.detail == "paid 300000 over 90 days (rank 20, needs 300000)"
    assert latest.actor == "system:grades"

    # Idempotent: the same moment again changes nothing and writes no history.
    assert recompute(db, clock, service.id) == RecomputeResult(0, 3, 0)
    assert count(db, grade_history) == 3

    # A refund demotes alice; 91 days later bob's charge has left the window.
    refund(db, clock, alice, first.lot_id, 1)
    clock.advance(DAY)
    assert recompute(db, clock, service.id) == RecomputeResult(1, 2, 0)
    assert member(db, alice).grade == "silver"
    clock.advance(90 * DAY)
    assert recompute(db, clock, service.id) == RecomputeResult(2, 1, 0)
    assert history(db, alice) == [
        ("basic", "gold", "rule"),
        ("gold", "silver", "rule"),
        ("silver", "bronze", "rule"),
    ]
    assert history(db, bob) == [("basic", "silver", "rule"), ("silver", "bronze", "rule")]
    assert count(db, grade_history) == 6
    # Only the members asked for.
    charge(db, clock, bob, 400_000)
    charge(db, clock, carol, 400_000)
    result = db.write(
        lambda c: grades.recompute(c, service.id, clock.now(), member_ids=[bob.member.id])
    )
    assert result == RecomputeResult(1, 0, 0)
    assert [member(db, w).grade for w in (bob, carol)] == ["gold", "bronze"]
    assert db.read(lambda c: grades.distribution(c, service.id)) == [
        ("gold", 1),
        ("silver", 0),
        ("bronze", 2),
    ]
    assert_invariants(db)


def test_overrides_are_skipped_until_they_end(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    alice, bob = new_member(db, clock, service, "alice"), new_member(db, clock, service, "bob")
    set_rules(db, clock, service.id)
    charge(db, clock, alice, 300_000)
    now = clock.now()
    override(db, clock, alice, "bronze", until=now + 10 * DAY, reason="fraud check")
    override(db, clock, bob, "gold", until=None, reason="partner")
    assert [member(db, w).grade for w in (alice, bob)] == ["bronze", "gold"]

    assert recompute(db, clock, service.id) == RecomputeResult(0, 0, 2)
    assert [member(db, w).grade for w in (alice, bob)] == ["bronze", "gold"]

    # At its `until` alice's override has ended: removed, and she gets what she earned.
    clock.advance(10 * DAY)
    assert recompute(db, clock, service.id) == RecomputeResult(1, 0, 1)
    assert member(db, alice).grade == "gold"
    assert db.read(lambda c: grades.get_override(c, alice.member.id)) is None
    assert history(db, alice) == [
        ("basic", "bronze", "override"),
        ("bronze", "gold", "override_ended"),
    ]
    ended = db.read(lambda c: grades.history(c, alice.member.id, 1))[0]
    assert ended.detail == (
        f"override until {(now + 10 * DAY).isoformat()} ended; "
        "paid 300000 over 90 days (rank 20, needs 300000)"
    )
    assert recompute(db, clock, service.id) == RecomputeResult(0, 1, 1)

    # Clearing bob's override by hand regrades him at once.
    assert clear(db, clock, bob) == "bronze"
    assert history(db, bob) == [
        ("basic", "gold", "override"),
        ("gold", "bronze", "override_ended"),
    ]
    with pytest.raises(Conflict) as refused:
        clear(db, clock, bob)
    assert refused.value.code == "no_override"
    assert count(db, grade_overrides) == 0


@pytest.mark.parametrize(
    ("grade", "until_days", "reason", "code"),
    [
        ("platinum", None, "why", "unknown_grade"),
        ("gold", 0, "why", "invalid_until"),
        ("gold", -1, "why", "invalid_until"),
        ("gold", None, "  ", "missing_reason"),
        ("gold", None, "x" * 501, "invalid_reason"),
        ("", None, "why", "invalid_grade"),
    ],
)
def test_bad_overrides_change_nothing(
    db: Database, clock: ManualClock, grade: str, until_days: int | None, reason: str, code: str
) -> None:
    service = new_service(db, clock)
    alice = new_member(db, clock, service, "alice")
    set_rules(db, clock, service.id)
    until = None if until_days is None else clock.now() + until_days * DAY
    with pytest.raises(InvalidInput) as refused:
        override(db, clock, alice, grade, until=until, reason=reason)
    assert refused.value.code == code
    assert member(db, alice).grade == "basic"
    assert count(db, grade_overrides) == 0
    assert count(db, grade_history) == 0


def test_set_grade_refuses_a_member_read_before_a_change(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    alice = new_member(db, clock, service, "alice")
    stale = member(db, alice)
    assert set_grade(db, clock, stale, "vip") is True
    assert set_grade(db, clock, member(db, alice), "vip") is False
    with pytest.raises(Conflict) as refused:
        set_grade(db, clock, stale, "gold")
    assert refused.value.code == "grade_changed"
    assert member(db, alice).grade == "vip"
    assert history(db, alice) == [("basic", "vip", "admin")]


def test_the_api_grade_change_is_recorded(db: Database, clock: ManualClock) -> None:
    tenant = World(db, clock).tenant()
    tenant.member("ann")
    assert ok(tenant.patch("/members/ann", {"grade": "gold"}), 200)["grade"] == "gold"
    assert ok(tenant.patch("/members/ann", {"grade": "gold"}), 200)["grade"] == "gold"
    ann = db.read(lambda c: tenancy.get_member(c, tenant.service.id, "ann"))
    found = db.read(lambda c: grades.history(c, ann.id, 10))
    assert [(h.from_grade, h.to_grade, h.source) for h in found] == [("basic", "gold", "api")]
    assert found[0].actor == f"api:{tenant.key_prefix}"


# --- the daily job --------------------------------------------------------------------------


def test_the_daily_job_regrades_every_service_with_rules_in_batches(
    db: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (GRADES_JOB, 86400) in {(e.kind, e.interval_seconds) for e in DEFAULT_SCHEDULE}
    monkeypatch.setattr(grades, "RECOMPUTE_BATCH", 2)
    batches: list[int] = []
    real = grades.recompute

    def spy(conn: Connection, service_id: UUID, now: datetime, **kw: Any) -> RecomputeResult:
        batches.append(len(kw["member_ids"]))
        return real(conn, service_id, now, **kw)

    monkeypatch.setattr(grades, "recompute", spy)
    ruled, bare = new_service(db, clock), new_service(db, clock, name="Bare")
    set_rules(db, clock, ruled.id)
    people = [new_member(db, clock, ruled, f"m{i}") for i in range(5)]
    lonely = new_member(db, clock, bare, "lonely")
    closed = new_member(db, clock, ruled, "gone")
    db.write(lambda c: app.change_member_status(c, ruled, "gone", "closed", clock=clock))
    charge(db, clock, people[0], 300_000)
    charge(db, clock, people[3], 150_000)

    worker = Worker(
        db, clock, handlers.default_handlers(Settings.from_env({})), worker_id="w", scheduler=True
    )
    worker.schedule = tuple(e for e in DEFAULT_SCHEDULE if e.kind == GRADES_JOB)
    worker.run_once()
    assert _job_statuses(db) == ["done"]
    assert batches == [2, 2, 1]
    grades_now = [member(db, p).grade for p in people]
    assert grades_now == ["gold", "bronze", "bronze", "silver", "bronze"]
    assert member(db, lonely).grade == "basic"
    assert member(db, closed).grade == "basic"
    assert count(db, grade_history) == 5

    # The next day's run changes nothing.
    clock.advance(DAY)
    worker.run_once()
    assert _job_statuses(db) == ["done", "done"]
    assert count(db, grade_history) == 5


def _job_statuses(db: Database) -> list[str]:
    query = select(jobs.c.status).where(jobs.c.kind == GRADES_JOB).order_by(jobs.c.id)
    return [str(s) for s in db.read(lambda c: c.execute(query).scalars().all())]
