"""Applying PG answers to a charge, straight against the database (both databases).

The PG is not involved here: the outcomes are what an adapter would report. The live tests in
tests/payments drive the same code through the sandbox PG over HTTP.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError, Conflict
from coffer.ledger import queries
from coffer.payments.apply import apply_outcome
from coffer.payments.charges import Charge, charge_by_id, move, timeline
from coffer.payments.gateways.outcomes import (
    Approved,
    Declined,
    PaymentOutcome,
    Pending,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.onboarding import connect_pg
from coffer.payments.secrets import SecretBox, new_key
from coffer.payments.tables import charge_credits
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service


def open_charge(db: Database, clock: ManualClock, amount: int = 10_000) -> tuple[Account, Charge]:
    service = new_service(db, clock)
    account = new_member(db, clock, service, "alice")

    def work(conn: Connection) -> Charge:
        connect_pg(
            conn, service.id, pg="sandbox", name="Sandbox", base_url="http://127.0.0.1:9",
            merchant_id="m", client_key="ck", secret_key="sk", webhook_secret="wh",
            box=SecretBox(new_key()), now=clock.now(),
        )  # fmt: skip
        return app.create_charge(
            conn, service, "alice", amount=amount, method="card", pg=None,
            return_url="http://shop.test/back", now=clock.now(),
        )  # fmt: skip

    return account, db.write(work)


def approved(charge: Charge, **changes: object) -> Approved:
    fields: dict[str, object] = {
        "payment_key": "pay_1", "order_id": charge.order_id, "amount": charge.amount,
        "method": "card", "approved_at": charge.created_at, "currency": "KRW",
    }  # fmt: skip
    return Approved(**(fields | changes))  # type: ignore[arg-type]


def apply(
    db: Database,
    clock: ManualClock,
    charge_id: UUID,
    outcome: PaymentOutcome,
    source: str = "webhook",
) -> Charge:
    return db.write(
        lambda conn: apply_outcome(
            conn,
            charge_id,
            outcome,
            source=source,
            now=clock.now(),
            resolve=app.resolve_wallet,
        )
    )


def paid_balance(db: Database, clock: ManualClock, account: Account) -> int:
    return db.read(lambda conn: queries.balance(conn, account.member.id, clock.now()).paid)


def test_approval_credits_once_and_later_answers_never_downgrade(
    db: Database, clock: ManualClock
) -> None:
    account, charge = open_charge(db, clock)
    after = apply(db, clock, charge.id, approved(charge), source="confirm")
    assert after.status == "approved"
    assert after.journal_id is not None
    for late in (
        approved(charge),
        Pending("pay_1", charge.order_id, "IN_PROGRESS"),
        Declined("REJECT_CARD_PAYMENT", "late"),
        Unknown("timeout"),
        WaitingForDeposit("pay_1", charge.order_id, 10_000, "123", "04", clock.now()),
    ):
        assert apply(db, clock, charge.id, late).status == "approved"
    assert paid_balance(db, clock, account) == 10_000
    events = [e.event for e in db.read(lambda conn: timeline(conn, charge.id))]
    assert events[:2] == ["created", "approved"]
    assert "stale_message_ignored" in events
    assert_invariants(db)


def test_a_different_amount_or_order_is_never_credited(db: Database, clock: ManualClock) -> None:
    account, charge = open_charge(db, clock)
    after = apply(db, clock, charge.id, approved(charge, amount=9_999))
    assert (after.status, after.attention) == ("created", "approved_amount_mismatch")
    after = apply(db, clock, charge.id, approved(charge, currency="USD"))
    assert after.journal_id is None
    assert paid_balance(db, clock, account) == 0
    assert_invariants(db)


def test_declines_fail_open_charges_and_expire_virtual_accounts(
    db: Database, clock: ManualClock
) -> None:
    _, card = open_charge(db, clock)
    assert apply(db, clock, card.id, Declined("REJECT_CARD_PAYMENT", "no")).status == "failed"
    # A failed charge the PG later reports approved credits nothing and asks for a person.
    late = apply(db, clock, card.id, approved(card))
    assert (late.status, late.attention) == ("failed", "approved_after_failure")
    _, va = open_charge(db, clock)
    due = clock.now() + timedelta(days=3)
    waiting = apply(
        db, clock, va.id, WaitingForDeposit("pay_2", va.order_id, 10_000, "1", "04", due)
    )
    assert (waiting.status, waiting.va_due_at) == ("waiting_for_deposit", due)
    assert apply(db, clock, va.id, Declined("EXPIRED", "not paid")).status == "expired"
    assert_invariants(db)


def test_unknown_waits_for_the_janitor(db: Database, clock: ManualClock) -> None:
    _, charge = open_charge(db, clock)
    after = apply(db, clock, charge.id, Unknown("HTTP 503 from the PG"), source="confirm")
    assert after.status == "unknown"
    assert after.next_check_at == clock.now() + timedelta(minutes=1)
    assert apply(db, clock, charge.id, approved(charge), source="janitor").status == "approved"


def test_illegal_moves_are_refused(db: Database, clock: ManualClock) -> None:
    _, charge = open_charge(db, clock)

    def work(conn: Connection) -> Charge:
        locked = charge_by_id(conn, charge.id, lock=True)
        return move(conn, locked, "partially_cancelled", now=clock.now(), source="test")

    with pytest.raises(Conflict) as refused:
        db.write(work)
    assert refused.value.code == "illegal_transition"
    assert db.read(lambda conn: charge_by_id(conn, charge.id)).status == "created"


def test_concurrent_approvals_credit_exactly_once(db: Database, clock: ManualClock) -> None:
    account, charge = open_charge(db, clock)
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def race() -> None:
        barrier.wait()
        try:
            apply(db, clock, charge.id, approved(charge))
        except CofferError as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert paid_balance(db, clock, account) == 10_000
    credits = db.read(
        lambda conn: conn.execute(select(func.count()).select_from(charge_credits)).scalar_one()
    )
    assert credits == 1
    assert_invariants(db)
