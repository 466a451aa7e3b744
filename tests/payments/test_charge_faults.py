"""Every sandbox fault: no cash lost, none doubled, nothing left open once the janitor has run.

Each test starts a mix of charges (every method, a declined card, a checkout abandoned after
the member authorised), switches one fault on at the sandbox PG, drives the members' browsers
through the checkout and back to Coffer, then clears the fault, moves Coffer's clock forward and
runs the janitor as often as its schedule needs. The sandbox is the judge: a payment it holds as
paid is credited exactly once, and nothing else is credited at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from coffer.ledger.tables import journals
from coffer.payments import janitor
from coffer.payments.charges import timeline
from coffer.payments.gateways.outcomes import (
    Approved,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.gateways.port import Gateway
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.rechecks import GAVE_UP, SCHEDULE
from coffer.payments.states import CREDITED_STATUSES, OPEN_STATUSES
from coffer.payments.tables import charge_credits, pg_webhook_events
from coffer.tenancy import service as tenancy
from tests.ledger_helpers import assert_invariants
from tests.payments.world import APPROVE, CARD_DECLINED, World

#: Where every charge must end once the fault is gone and the janitor has run.
SETTLED = {"approved", "failed", "expired", "cancelled"}
#: After the first janitor pass: past the checkout window, an hour, a day, past a virtual
#: account's due date (the janitor's last chance to see a deposit whose webhook was lost).
LATER_PASSES = (
    timedelta(minutes=13),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(days=2),
    timedelta(days=8),
)


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sandbox_gateway(world: World) -> SandboxGateway:
    """Coffer's own adapter, pointed at the world's merchant: how the tests ask the PG."""
    m = world.merchant
    return SandboxGateway(
        world.sandbox, m["client_key"], m["secret_key"], m["webhook_secret"], timeout=10
    )


def at_pg(world: World, order_id: str) -> PaymentOutcome:
    with sandbox_gateway(world) as gateway:
        outcome = gateway.query(order_id=order_id)
    assert not isinstance(outcome, Unknown), outcome
    return outcome


def paid_at_pg(outcome: PaymentOutcome) -> bool:
    """The PG holds the member's money (cancelled payments were paid before the cancel)."""
    return isinstance(outcome, Approved | PaymentCancelled)


def pg_events(outcome: PaymentOutcome, method: str) -> int:
    """How many webhooks the sandbox sent for a payment in this state (docs/sandbox-pg.md)."""
    if isinstance(outcome, WaitingForDeposit):
        return 1
    if isinstance(outcome, Approved):
        return 2 if method == "virtual_account" else 1  # confirm (+ the deposit)
    if isinstance(outcome, PaymentCancelled):
        return (2 if method == "virtual_account" else 1) + len(outcome.cancels)
    return 0


@dataclass
class Attempt:
    """One charge of a scenario and what the member does with it."""

    id: str
    order_id: str
    method: str
    amount: int
    plan: str  # "pay", "decline" or "abandon"
    back: dict[str, str] | None = None


class Scenario:
    """A member, a mix of charges, and the checks every fault must pass."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.member = world.member()
        self.attempts: list[Attempt] = []

    def start(self) -> None:
        """Open every charge before the fault (routing never sees its breaker trip)."""
        plans = [(m, "pay") for m in APPROVE] + [("card", "decline"), ("card", "abandon")]
        for n, (method, plan) in enumerate(plans, start=1):
            amount = 1000 * n + 10000
            started = self.world.start_charge(self.member, amount, method)
            self.attempts.append(Attempt(started["id"], started["order_id"], method, amount, plan))
        self._urls = {a.id: f"{self.world.coffer}/pg/checkout/{a.id}" for a in self.attempts}

    def drive(self) -> None:
        """Every member's browser at once: the PG's page, then back to Coffer (unless abandoned)."""

        def browse(attempt: Attempt) -> None:
            steps = CARD_DECLINED_STEPS if attempt.plan == "decline" else APPROVE[attempt.method]
            redirect = self.world.checkout(self._urls[attempt.id], steps)
            if attempt.plan != "abandon":
                attempt.back = self.world.follow(redirect)

        with ThreadPoolExecutor(max_workers=len(self.attempts)) as pool:
            list(pool.map(browse, self.attempts))
        for attempt in self.attempts:
            if attempt.plan == "decline":
                assert attempt.back is not None
                assert attempt.back["status"] == "failed"
            elif attempt.plan == "pay":
                assert attempt.back is not None
                # Never failed by a fault: approved, waiting for the deposit, or not known yet.
                assert attempt.back["status"] in (
                    "approved", "waiting_for_deposit", "in_progress", "unknown",
                ), attempt  # fmt: skip

    def settle(self) -> None:
        """Clear the fault, let the webhooks land, then run the janitor through its schedule."""
        self.world.clear_faults()  # also releases webhooks held back
        self.wait_for_webhooks()
        with self.world.clock.shifted(timedelta(minutes=3)):  # past the confirm grace
            self.world.janitor()
        self.deposit_waiting()
        self.wait_for_webhooks()
        for shift in LATER_PASSES:
            if not self.open_charges():
                break
            with self.world.clock.shifted(shift):
                self.world.janitor()

    def deposit_waiting(self) -> None:
        """The member pays into every virtual account the PG issued."""
        for attempt in self.attempts:
            outcome = at_pg(self.world, attempt.order_id)
            if isinstance(outcome, WaitingForDeposit):
                self.world.deposit(outcome.payment_key)

    def wait_for_webhooks(self) -> None:
        """Until Coffer has received every webhook the PG's payments imply (each event once)."""
        expected = sum(pg_events(at_pg(self.world, a.order_id), a.method) for a in self.attempts)

        def received() -> int:
            return int(
                self.world.db.read(
                    lambda c: c.execute(
                        select(func.count())
                        .select_from(pg_webhook_events)
                        .where(pg_webhook_events.c.contract_id == self.world.contract_id)
                    ).scalar_one()
                )
            )

        wait_for(lambda: received() >= expected, what=f"{expected} webhooks")

    def open_charges(self) -> list[str]:
        return [a.id for a in self.attempts if self.world.charge(a.id).status in OPEN_STATUSES]

    def check(self) -> None:
        """No cash lost, none doubled, nothing open, every invariant."""
        world = self.world
        credited = 0
        for attempt in self.attempts:
            charge = world.charge(attempt.id)
            assert charge.status in SETTLED, (attempt, charge.status)
            pg = at_pg(world, attempt.order_id)
            credits = world.db.read(
                lambda c, cid=charge.id: c.execute(
                    select(charge_credits).where(charge_credits.c.charge_id == cid)
                ).all()
            )
            if paid_at_pg(pg):
                assert charge.status in CREDITED_STATUSES, (attempt, charge.status, pg)
                assert len(credits) == 1
                assert credits[0].payment_key == charge.payment_key
                assert charge.payment_key == pg.payment_key  # type: ignore[union-attr]
                credited += charge.amount - charge.refunded
            else:
                assert (charge.journal_id, credits) == (None, []), (attempt, pg)
            # What each member did decides the end, whatever the fault did in between.
            expected = {"pay": "approved", "decline": "failed", "abandon": "expired"}
            assert charge.status == expected[attempt.plan], (attempt, charge.status, pg)
        assert world.balance(self.member) == credited

        def grants(conn: Any) -> int:
            member_id = tenancy.get_member(conn, world.service_id, self.member).id
            count = select(func.count()).select_from(journals)
            where = (journals.c.member_id == member_id, journals.c.kind == "grant")
            return int(conn.execute(count.where(*where)).scalar_one())

        assert world.db.read(grants) == sum(a.plan == "pay" for a in self.attempts)
        assert_invariants(world.db)


CARD_DECLINED_STEPS = [CARD_DECLINED]


def _outage_now() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "outage": {
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
        }
    }


FAULTS: dict[str, Callable[[], dict[str, Any]]] = {
    "latency_over_timeout": lambda: {"latency_ms": 3000},  # Coffer's PG timeout is 2 s
    "error_rate_1": lambda: {"error_rate": 1.0},
    "error_rate_half": lambda: {"error_rate": "0.5", "seed": 7},
    "timeout_after_approval": lambda: {"timeout_after_approval": True},
    "duplicate_webhooks": lambda: {"duplicate_webhooks": 3},
    "out_of_order_webhooks": lambda: {"out_of_order_webhooks": True},
    "outage": _outage_now,
}


#: Faults under which the PG still answers queries, so members can pay into their accounts.
DEPOSIT_DURING_THE_FAULT = ("timeout_after_approval", "duplicate_webhooks", "out_of_order_webhooks")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_loses_and_doubles_nothing(world: World, fault: str) -> None:
    scenario = Scenario(world)
    scenario.start()
    world.faults(**FAULTS[fault]())
    scenario.drive()
    if fault in DEPOSIT_DURING_THE_FAULT:
        scenario.deposit_waiting()  # the deposit's webhook goes through the fault too
    if fault in ("error_rate_1", "outage"):
        # Every confirm failed at the PG's door: nothing is credited, nothing is failed either.
        assert {a.back["status"] for a in scenario.attempts if a.plan == "pay"} == {"unknown"}  # type: ignore[index]
        assert world.balance(scenario.member) == 0
    scenario.settle()
    scenario.check()


def test_out_of_order_webhooks_around_refunds_never_undo_them(world: World) -> None:
    """Held webhooks (DONE, two PARTIAL_CANCELED) arrive newest first: the refunds stand."""
    member = world.member()
    world.faults(out_of_order_webhooks=True)
    charge_id = world.pay(member, "card", 10000)["charge_id"]
    with world.api() as api:
        for n, amount in enumerate((4000, 3000)):
            refund = api.post(
                f"/api/v1/charges/{charge_id}/refunds",
                json={"amount": amount, "reason": "asked"},
                headers={"Idempotency-Key": f"r-{n}"},
            )
            assert refund.status_code == 201, refund.text
            world.process_refunds(charge_id)
    world.clear_faults()
    order_id = world.charge(charge_id).order_id
    wait_for(
        lambda: (
            world.db.read(
                lambda c: c.execute(
                    select(func.count()).select_from(pg_webhook_events)
                ).scalar_one()
            )
            == 3
        ),
        what="the three held webhooks",
    )
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded, charge.attention) == ("partially_cancelled", 7000, None)
    pg = at_pg(world, order_id)
    assert isinstance(pg, PaymentCancelled)
    assert pg.balance_amount == 3000
    assert [r.status for r in world.refunds(charge_id)] == ["done", "done"]
    assert world.balance(member) == 3000
    assert_invariants(world.db)


def test_an_abandoned_checkout_expires_after_the_window(world: World) -> None:
    member = world.member()
    never_opened = world.start_charge(member, 10000, "card")
    authorised = world.start_charge(member, 20000, "card")
    redirect = world.checkout(authorised["checkout_url"], APPROVE["card"])  # never followed
    with world.clock.shifted(timedelta(minutes=9)):
        assert world.janitor().charges_visited == 0  # the member may still come back
    for started in (never_opened, authorised):
        assert world.charge(started["id"]).status == "created"
    with world.clock.shifted(timedelta(minutes=13)):
        report = world.janitor()
    assert (report.charges_visited, report.charges_settled) == (2, 2)
    for started in (never_opened, authorised):
        charge = world.charge(started["id"])
        assert (charge.status, charge.failure_code) == ("expired", "checkout_expired")
        assert charge.next_check_at is None
        assert charge.journal_id is None
        events = world.db.read(lambda c, cid=charge.id: timeline(c, cid))
        assert (events[-1].source, events[-1].before, events[-1].after) == (
            "janitor", "created", "expired",
        )  # fmt: skip
    # The member comes back late: nothing is confirmed, the PG still holds an unpaid session.
    assert world.follow(redirect)["status"] == "expired"
    assert isinstance(at_pg(world, world.charge(authorised["id"]).order_id), Pending)
    with httpx.Client() as browser:
        closed = browser.get(never_opened["checkout_url"])
    assert closed.status_code == 303
    assert "problem=checkout_closed" in closed.headers["location"]
    assert world.balance(member) == 0
    assert_invariants(world.db)


class ConfirmsLost:
    """The PG of a partial outage: queries answer, every confirm's answer is lost."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        return Unknown(reason="HTTP 503 from the PG")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


@pytest.mark.parametrize("broken", ["outage", "confirms_lost"])
def test_a_charge_the_janitor_cannot_settle_is_flagged_after_the_schedule(
    world: World, broken: str
) -> None:
    """An outage that outlasts the schedule, or a PG that reports the payment READY but loses
    every confirm: the janitor follows its schedule, then hands the charge to a person."""
    member = world.member()
    started = world.start_charge(member, 10000, "card")
    world.faults(**_outage_now())
    back = world.follow(world.checkout(started["checkout_url"], APPROVE["card"]))
    assert back["status"] == "unknown"
    payments = world.runtime.payments()
    if broken == "confirms_lost":
        world.clear_faults()
        real = payments.gateways
        payments = replace(payments, gateways=lambda cid: ConfirmsLost(real(cid)))
    offset = timedelta()
    for n, delay in enumerate(SCHEDULE, start=1):
        with world.clock.shifted(offset + delay / 2):  # not due yet: left alone
            assert janitor.run(payments).charges_visited == 0
        offset += delay + timedelta(seconds=1)
        with world.clock.shifted(offset):
            assert janitor.run(payments).charges_visited == 1
        charge = world.charge(started["id"])
        assert (charge.status, charge.checks) == ("unknown", n)
        assert charge.attention == (GAVE_UP if n == len(SCHEDULE) else None)
    assert charge.next_check_at is None
    with world.clock.shifted(offset + timedelta(days=30)):
        assert janitor.run(payments).charges_visited == 0  # a person takes it from here
    events = world.db.read(lambda c: timeline(c, charge.id))
    checked = [e for e in events if e.event == "checked"]
    assert len(checked) == len(SCHEDULE)
    assert all((e.before, e.after, e.source) == ("unknown", "unknown", "janitor") for e in checked)
    world.clear_faults()
    # The PG never took the money: nothing is lost by leaving it uncredited.
    assert isinstance(at_pg(world, charge.order_id), Pending)
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_a_refund_the_pg_cannot_answer_is_flagged_after_the_schedule(world: World) -> None:
    """The cancel's answer is lost in an outage that outlasts the schedule: a person is told."""
    member = world.member()
    charge_id = world.pay(member, "card", 10000)["charge_id"]
    world.faults(**_outage_now())
    with world.api() as api:
        asked = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"amount": 4000, "reason": "asked"},
            headers={"Idempotency-Key": "refund-1"},
        )
    assert asked.status_code == 201, asked.text
    world.process_refunds(charge_id)
    (refund,) = world.refunds(charge_id)
    assert (refund.status, refund.attempts) == ("unknown", 1)
    visits = 0
    offset = timedelta()
    while refund.next_check_at is not None:
        assert visits < 3 * len(SCHEDULE), "the janitor never gives the refund up"
        offset = refund.next_check_at - world.clock.now() + timedelta(seconds=1)
        with world.clock.shifted(offset):
            assert world.janitor().refunds_visited == 1
        visits += 1
        (refund,) = world.refunds(charge_id)
        assert refund.status == "unknown"
    assert visits == len(SCHEDULE) - 1  # the cancel's own try, then the janitor's checks
    assert world.charge(charge_id).attention == GAVE_UP
    events = world.db.read(lambda c: timeline(c, UUID(charge_id)))
    assert events[-1].event == "refund_unsettled"
    with world.clock.shifted(offset + timedelta(days=30)):
        assert world.janitor().refunds_visited == 0
    world.clear_faults()
    # The PG never cancelled: the member's 4,000 is out of the wallet and not yet back on the
    # card, which is exactly what the person who takes the flag has to sort out.
    pg = at_pg(world, world.charge(charge_id).order_id)
    assert isinstance(pg, Approved)
    assert world.balance(member) == 6000
    assert_invariants(world.db)
