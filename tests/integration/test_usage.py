"""Usage sessions: the deduction order, passes ending mid-session, running out, stale sessions,
metered and mixed charging, and concurrent reports on one member."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from coffer.catalog.model import Product
from coffer.config import Settings
from coffer.db.outbox import WEBHOOK_JOB, jobs
from coffer.db.transaction import Database
from coffer.entitlements import usage
from coffer.entitlements.model import (
    USE_TIME,
    Entitlement,
    Session,
    consumption_order,
    plan_use,
)
from coffer.jobs import handlers
from coffer.jobs.schedule import CLOSE_STALE_SESSIONS_JOB, DEFAULT_SCHEDULE
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.kernel.ids import uuid7
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.tables import journals
from coffer.tenancy.model import Service
from tests.integration.test_entitlements import (
    entitlement,
    grant,
    grant_minutes,
    new_product,
    set_ends_at,
)
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@pytest.fixture
def service(db: Database, clock: ManualClock) -> Service:
    return new_service(db, clock)


@pytest.fixture
def alice(db: Database, clock: ManualClock, service: Service) -> Account:
    return new_member(db, clock, service, "alice")


def start(
    db: Database, clock: ManualClock, who: Account, product: Product | None = None
) -> usage.Report:
    return db.write(
        lambda conn: usage.start_session(
            conn, who.wallet, product=product, reference="game-1", now=clock.now()
        )
    )


def beat(db: Database, clock: ManualClock, who: Account, session: UUID, used: int) -> usage.Report:
    return db.write(
        lambda conn: usage.heartbeat(
            conn, who.wallet, session, used=used, actor="test", now=clock.now(),
            external_id=who.member.external_id,
        )
    )  # fmt: skip


def stop(db: Database, clock: ManualClock, who: Account, session: UUID, used: int) -> usage.Report:
    return db.write(
        lambda conn: usage.stop(
            conn, who.wallet, session, used=used, actor="test", now=clock.now(),
            external_id=who.member.external_id,
        )
    )  # fmt: skip


def draws(db: Database, session: UUID) -> list[tuple[UUID | None, int, int]]:
    rows = db.read(lambda conn: usage.usage_of(conn, session))
    return [(row.entitlement_id, row.units, row.cash) for row in rows]


def session_row(db: Database, who: Account, session: UUID) -> Session:
    return db.read(lambda conn: usage.get_session(conn, who.service.id, session))


def events(db: Database, event_type: str) -> list[dict[str, Any]]:
    payloads = db.read(
        lambda conn: (
            conn.execute(select(jobs.c.payload).where(jobs.c.kind == WEBHOOK_JOB)).scalars().all()
        )
    )
    return [p["data"] for p in payloads if p["type"] == event_type]


def available(db: Database, clock: ManualClock, who: Account) -> int:
    return db.read(lambda conn: queries.balance(conn, who.member.id, clock.now())).available


def give_cash(db: Database, clock: ManualClock, who: Account, amount: int) -> None:
    db.write(
        lambda conn: ledger.grant(
            conn, who.wallet, amount=amount, kind="paid", source="api", actor="test",
            now=clock.now(),
        )
    )  # fmt: skip


# --- play time ------------------------------------------------------------------------------


def test_play_time_passes_first_then_soonest_ending_then_oldest(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    day_pass = new_product(db, clock, service, "period_pass", "day", pass_days=1)
    hour = new_product(db, clock, service, "time_coupon", "hour", minutes=60)
    t0 = clock.now()
    [pass_id] = grant(db, clock, alice, day_pass)
    oldest = grant_minutes(db, clock, alice, 30)
    clock.advance(MINUTE)
    ending = grant_minutes(db, clock, alice, 20)
    set_ends_at(db, ending, t0 + 2 * DAY)
    [coupon] = grant(db, clock, alice, hour)

    clock.set(t0 + DAY - 10 * MINUTE)
    opened = start(db, clock, alice)
    session = opened.session.id
    assert (opened.remaining, opened.covered_until) == (110, t0 + DAY)
    assert opened.session.unit_name == "minute"

    clock.advance(5 * MINUTE)
    first = beat(db, clock, alice, session, 5)  # all under the pass: free
    assert (first.used, first.remaining, first.exhausted) == (5, 110, False)

    clock.advance(4 * MINUTE)
    assert beat(db, clock, alice, session, 4).covered_until == t0 + DAY
    clock.advance(3 * MINUTE)  # the pass ended a third of the way into this report
    second = beat(db, clock, alice, session, 6)
    assert (second.used, second.used_total, second.remaining) == (6, 15, 105)
    assert second.covered_until is None
    assert entitlement(db, ending).remaining == 15

    clock.advance(4 * MINUTE)
    beat(db, clock, alice, session, 20)  # reported more than the wall clock: still paid
    assert (entitlement(db, ending).remaining, entitlement(db, ending).status) == (0, "exhausted")
    assert entitlement(db, oldest).remaining == 25

    clock.advance(4 * MINUTE)
    beat(db, clock, alice, session, 30)
    assert (entitlement(db, oldest).remaining, entitlement(db, coupon).remaining) == (0, 55)

    done = stop(db, clock, alice, session, 2)
    assert (done.session.status, done.session.close_reason, done.session.closed_at) == (
        "closed", "stopped", clock.now(),
    )  # fmt: skip
    assert (done.used_total, done.remaining, done.exhausted) == (67, 53, False)
    assert draws(db, session) == [
        (pass_id, 5, 0),
        (pass_id, 4, 0),
        (pass_id, 1, 0),
        (ending, 5, 0),
        (ending, 15, 0),
        (oldest, 5, 0),
        (oldest, 25, 0),
        (coupon, 5, 0),
        (coupon, 2, 0),
    ]
    with pytest.raises(Conflict) as closed:
        beat(db, clock, alice, session, 1)
    assert closed.value.code == "session_closed"
    assert events(db, usage.EXHAUSTED_EVENT) == []


def test_running_out_of_time_ends_the_session_and_queues_the_webhook(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    minutes = grant_minutes(db, clock, alice, 10)
    session = start(db, clock, alice).session.id

    clock.advance(6 * MINUTE / 2)
    assert beat(db, clock, alice, session, 6).exhausted is False
    clock.advance(6 * MINUTE / 2)
    last = beat(db, clock, alice, session, 6)

    assert (last.exhausted, last.used, last.unaccounted, last.used_total) == (True, 4, 2, 10)
    assert (last.remaining, last.session.status, last.session.close_reason) == (
        0, "exhausted", "exhausted",
    )  # fmt: skip
    assert entitlement(db, minutes).status == "exhausted"
    [event] = events(db, usage.EXHAUSTED_EVENT)
    assert event == {
        "member_id": str(alice.member.id),
        "external_id": "alice",
        "session_id": str(session),
        "product_id": None,
        "reference": "game-1",
        "unit_name": "minute",
        "reason": "time",
        "used_total": 10,
        "unaccounted": 2,
        "cash_charged": 0,
    }
    with pytest.raises(Conflict) as ended:
        beat(db, clock, alice, session, 1)
    assert ended.value.code == "session_exhausted"
    with pytest.raises(InvalidInput) as nothing:
        start(db, clock, alice)
    assert nothing.value.code == "no_entitlement"


def test_using_the_last_minute_exactly_is_exhaustion_too(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant_minutes(db, clock, alice, 5)
    session = start(db, clock, alice).session.id
    clock.advance(5 * MINUTE)

    last = beat(db, clock, alice, session, 5)

    assert (last.exhausted, last.unaccounted, last.used_total) == (True, 0, 5)
    assert len(events(db, usage.EXHAUSTED_EVENT)) == 1


def test_a_silent_session_is_closed_by_the_job_at_its_last_heartbeat(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    minutes = grant_minutes(db, clock, alice, 60)
    session = start(db, clock, alice).session.id
    clock.advance(2 * MINUTE)
    beat(db, clock, alice, session, 2)
    last_report = clock.now()

    clock.advance(usage.STALE_AFTER)  # exactly the limit: not stale yet
    assert usage.close_stale(db, clock) == 0
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Conflict) as late:  # a late report is refused even before the job ran
        beat(db, clock, alice, session, 7)
    assert late.value.code == "session_closed"

    worker = Worker(
        db, clock,
        {CLOSE_STALE_SESSIONS_JOB: handlers.close_stale_sessions},
        worker_id="w", scheduler=True,
    )  # fmt: skip
    worker.schedule = tuple(e for e in DEFAULT_SCHEDULE if e.kind == CLOSE_STALE_SESSIONS_JOB)
    assert worker.run_once() == 1

    closed = session_row(db, alice, session)
    assert (closed.status, closed.close_reason, closed.closed_at) == (
        "closed",
        "stale",
        last_report,
    )
    assert (closed.used, closed.last_heartbeat_at) == (2, last_report)
    assert entitlement(db, minutes).remaining == 58
    assert usage.close_stale(db, clock) == 0
    with pytest.raises(Conflict):
        beat(db, clock, alice, session, 1)


def test_the_default_handlers_close_stale_sessions(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant_minutes(db, clock, alice, 60)
    sessions = [start(db, clock, alice).session.id for _ in range(3)]
    clock.advance(MINUTE)
    beat(db, clock, alice, sessions[0], 1)
    clock.advance(usage.STALE_AFTER)  # sessions 1 and 2 are 6 minutes silent, 0 only 5

    handler = handlers.default_handlers(Settings.from_env({}))[CLOSE_STALE_SESSIONS_JOB]
    worker = Worker(db, clock, {CLOSE_STALE_SESSIONS_JOB: handler}, worker_id="w", scheduler=True)
    worker.schedule = tuple(e for e in DEFAULT_SCHEDULE if e.kind == CLOSE_STALE_SESSIONS_JOB)
    worker.run_once()

    statuses = [session_row(db, alice, s).status for s in sessions]
    assert statuses == ["open", "closed", "closed"]


# --- quantity, metered and mixed products ---------------------------------------------------


def test_quantity_passes_oldest_first(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    calls = new_product(db, clock, service, "quantity_pass", "calls", units=10)
    texts = new_product(db, clock, service, "quantity_pass", "texts", units=10)
    [older] = grant(db, clock, alice, calls)
    clock.advance(MINUTE)
    [newer] = grant(db, clock, alice, calls)
    [other] = grant(db, clock, alice, texts)
    grant_minutes(db, clock, alice, 100)  # play time is not drawn for a product's session

    opened = start(db, clock, alice, calls)
    assert (opened.remaining, opened.session.unit_name) == (20, "unit")
    session = opened.session.id
    assert beat(db, clock, alice, session, 12).remaining == 8
    last = beat(db, clock, alice, session, 9)

    assert (last.exhausted, last.used, last.unaccounted) == (True, 8, 1)
    assert draws(db, session) == [(older, 10, 0), (newer, 2, 0), (newer, 8, 0)]
    assert entitlement(db, other).remaining == 10
    assert events(db, usage.EXHAUSTED_EVENT)[0]["reason"] == "units"
    with pytest.raises(InvalidInput) as nothing:
        start(db, clock, alice, calls)
    assert nothing.value.code == "no_entitlement"


def test_sessions_refuse_products_that_are_not_used_by_the_unit(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    for kind in ("item", "period_pass", "package", "time_coupon"):
        product = new_product(db, clock, service, kind, f"sku-{kind}")
        with pytest.raises(InvalidInput) as refused:
            start(db, clock, alice, product)
        assert refused.value.code == "product_not_usable"
    with pytest.raises(InvalidInput) as nothing:
        start(db, clock, alice)
    assert nothing.value.code == "no_entitlement"


def test_metered_charges_whole_units_and_checks_the_minimum_balance(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    meter = new_product(db, clock, service, "metered", "per-call", unit_price=30, min_balance=100)
    give_cash(db, clock, alice, 99)
    with pytest.raises(InvalidInput) as poor:
        start(db, clock, alice, meter)
    assert poor.value.code == "insufficient_balance_to_start"
    assert poor.value.details == {"required": 100, "available": 99}

    give_cash(db, clock, alice, 1)
    opened = start(db, clock, alice, meter)
    assert opened.remaining == 3
    session = opened.session.id
    first = beat(db, clock, alice, session, 2)
    assert (first.cash, first.remaining, first.exhausted) == (60, 1, False)
    assert available(db, clock, alice) == 40
    assert beat(db, clock, alice, session, 0).cash == 0

    last = beat(db, clock, alice, session, 3)  # 40 pays for one unit; never a part of one
    assert (last.used, last.unaccounted, last.cash, last.exhausted) == (1, 2, 30, True)
    assert (last.session.used, last.session.cash_charged) == (3, 90)
    assert available(db, clock, alice) == 10
    references = db.read(
        lambda conn: conn.execute(
            select(journals.c.kind, journals.c.reference, journals.c.amount)
            .where(journals.c.reference == f"usage:{session}")
            .order_by(journals.c.id)
        ).all()
    )
    assert [tuple(r) for r in references] == [
        ("spend", f"usage:{session}", 60),
        ("spend", f"usage:{session}", 30),
    ]
    assert [(e, u, c) for e, u, c in draws(db, session)] == [(None, 2, 60), (None, 1, 30)]
    assert events(db, usage.EXHAUSTED_EVENT)[0]["reason"] == "cash"
    assert events(db, usage.EXHAUSTED_EVENT)[0]["cash_charged"] == 90
    assert_invariants(db)


def test_metered_product_off_sale_cannot_start(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    meter = new_product(db, clock, service, "metered", "old-meter", status="off_sale")
    give_cash(db, clock, alice, 1_000)
    with pytest.raises(InvalidInput) as refused:
        start(db, clock, alice, meter)
    assert refused.value.code == "product_not_on_sale"


def test_mixed_included_units_then_overage_until_the_pass_ends(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    plan = new_product(db, clock, service, "mixed", "plan", pass_days=1, units=10, unit_price=5)
    t0 = clock.now()
    give_cash(db, clock, alice, 100)
    with pytest.raises(InvalidInput) as no_pass:
        start(db, clock, alice, plan)
    assert no_pass.value.code == "no_entitlement"
    [pass_id] = grant(db, clock, alice, plan)

    clock.set(t0 + DAY - 3 * MINUTE)
    opened = start(db, clock, alice, plan)
    assert (opened.remaining, opened.covered_until) == (10 + 20, t0 + DAY)
    session = opened.session.id
    clock.advance(MINUTE)
    assert beat(db, clock, alice, session, 8).cash == 0
    clock.advance(MINUTE)
    over = beat(db, clock, alice, session, 5)
    assert (over.used, over.cash, over.remaining, over.exhausted) == (5, 15, 17, False)
    clock.advance(2 * MINUTE)  # the pass ended a minute ago
    last = beat(db, clock, alice, session, 2)

    assert (last.cash, last.exhausted, last.covered_until) == (10, True, None)
    assert entitlement(db, pass_id).status == "active"  # a mixed pass runs on out of units
    assert draws(db, session) == [(pass_id, 8, 0), (pass_id, 2, 0), (None, 3, 15), (None, 2, 10)]
    assert available(db, clock, alice) == 75
    assert events(db, usage.EXHAUSTED_EVENT)[0]["reason"] == "pass_ended"
    assert_invariants(db)


def test_mixed_session_crosses_into_the_next_pass(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    plan = new_product(db, clock, service, "mixed", "plan", pass_days=1, units=10, unit_price=5)
    t0 = clock.now()
    [first] = grant(db, clock, alice, plan)
    [second] = grant(db, clock, alice, plan)  # buying again extends: starts at t0 + 1 day

    clock.set(t0 + DAY - MINUTE)
    session = start(db, clock, alice, plan).session.id
    assert beat(db, clock, alice, session, 4).remaining == 6
    clock.advance(2 * MINUTE)
    crossed = beat(db, clock, alice, session, 9)

    assert (crossed.exhausted, crossed.cash, crossed.covered_until) == (False, 0, t0 + 2 * DAY)
    assert draws(db, session) == [(first, 4, 0), (first, 6, 0), (second, 3, 0)]


# --- concurrency ----------------------------------------------------------------------------


def _race(db: Database, clock: ManualClock, who: Account, sessions: list[UUID], used: int) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(sessions))

    def report(session: UUID) -> None:
        try:
            barrier.wait(timeout=60)
            for _ in range(500):  # until exhausted
                if beat(db, clock, who, session, used).exhausted:
                    return
        except Conflict:
            return
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=report, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


@pytest.mark.slow
def test_concurrent_heartbeats_never_overdraw_play_time(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    minutes = grant_minutes(db, clock, alice, 100)
    sessions = [start(db, clock, alice).session.id for _ in range(4)]

    _race(db, clock, alice, sessions, 1)

    finals = [session_row(db, alice, s) for s in sessions]
    assert sum(s.used for s in finals) == 100
    assert entitlement(db, minutes).remaining == 0
    assert all(s.status == "exhausted" for s in finals)


@pytest.mark.slow
def test_concurrent_metered_heartbeats_never_overdraw_cash(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    meter = new_product(db, clock, service, "metered", "meter", unit_price=7, min_balance=0)
    give_cash(db, clock, alice, 1_000)
    sessions = [start(db, clock, alice, meter).session.id for _ in range(4)]

    _race(db, clock, alice, sessions, 3)

    finals = [session_row(db, alice, s) for s in sessions]
    charged = sum(s.cash_charged for s in finals)
    assert charged == 7 * sum(s.used for s in finals)
    assert available(db, clock, alice) == 1_000 - charged
    assert 0 <= available(db, clock, alice) < 7
    assert_invariants(db)


# --- the pure rule --------------------------------------------------------------------------


def _entitlement(
    kind: str, starts: datetime, ends: datetime | None, left: int | None
) -> Entitlement:
    return Entitlement(
        id=uuid7(), service_id=uuid7(), member_id=uuid7(), product_id=None, kind=kind,
        status="active", granted=left, remaining=left, unit_name=None, starts_at=starts,
        ends_at=ends, purchase_line_id=None, created_at=starts, updated_at=starts,
    )  # fmt: skip


def test_a_started_minute_under_a_pass_is_free() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    day_pass = _entitlement("period_pass", t - DAY, t + timedelta(seconds=90), None)
    minutes = _entitlement("time", t - DAY, None, 100)
    since, now = t, t + 5 * MINUTE

    ordered = consumption_order(
        USE_TIME, [minutes, day_pass], product_id=None, since=since, now=now
    )
    assert ordered == [day_pass, minutes]
    plan = plan_use(USE_TIME, ordered, 5, since=since, now=now)

    assert [(take.entitlement_id, take.units, take.free) for take in plan.takes] == [
        (day_pass.id, 2, True),  # 90 seconds covered: 2 started minutes
        (minutes.id, 3, False),
    ]
    assert (plan.cash, plan.unaccounted) == (0, 0)


def test_a_pass_valid_at_the_report_covers_a_report_without_elapsed_time() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    day_pass = _entitlement("period_pass", t - DAY, t + DAY, None)
    ended = _entitlement("period_pass", t - 2 * DAY, t - DAY, None)

    ordered = consumption_order(USE_TIME, [day_pass, ended], product_id=None, since=t, now=t)

    assert ordered == [day_pass]
    assert plan_use(USE_TIME, ordered, 7, since=t, now=t).takes[0].units == 7
    assert plan_use(USE_TIME, [], 7, since=t, now=t).unaccounted == 7
