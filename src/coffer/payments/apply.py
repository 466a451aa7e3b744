"""Applying what a PG said about a payment to its charge: the one place a charge settles.

The PG's answer may come from the confirm call, a webhook or the janitor, in any order and any
number of times. Each is applied under the charge's row lock through the state machine, so the
first definite answer takes effect and the rest are no-ops; cash is credited in the same
transaction that moves the charge to ``approved``, and ``charge_credits`` refuses a second credit
for the same PG payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from coffer.ledger import service as ledger
from coffer.ledger.service import WalletResolver
from coffer.payments import refunds
from coffer.payments.charges import Charge, annotate, charge_by_id, emit_charge_event, move
from coffer.payments.gateways.outcomes import (
    Approved,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.rechecks import next_check
from coffer.payments.states import CREDITED_STATUSES, OPEN_STATUSES, may_move
from coffer.payments.tables import charge_credits
from coffer.pricing import bonuses
from coffer.tenancy import service as tenancy


def apply_outcome(
    conn: Connection,
    charge_id: UUID,
    outcome: PaymentOutcome,
    *,
    source: str,
    now: datetime,
    resolve: WalletResolver,
) -> Charge:
    """Settle the charge by ``outcome`` as far as the state machine allows; returns it after."""
    charge = charge_by_id(conn, charge_id, lock=True)
    if isinstance(outcome, Approved):
        return _approve(conn, charge, outcome, source=source, now=now, resolve=resolve)
    if isinstance(outcome, WaitingForDeposit):
        if charge.status in ("created", "in_progress", "unknown"):
            return move(
                conn, charge, "waiting_for_deposit", now=now, source=source,
                payment_key=outcome.payment_key, va_bank=outcome.bank_code,
                va_account=outcome.account_number, va_due_at=outcome.due_date,
                next_check_at=outcome.due_date, checks=0,
            )  # fmt: skip
        if charge.status == "waiting_for_deposit":
            return charge
        return _ignore(conn, charge, outcome, source=source, now=now)
    if isinstance(outcome, Pending):
        # Not finished at the PG: a created charge's member is still on the PG's page (e.g.
        # Stripe's payment_intent.payment_failed while Checkout lets them try another card), so
        # it stays created for the return, the fail return or the window's expiry to settle.
        if charge.status == "created":
            return annotate(
                conn, charge, now=now, source=source, event="pending_at_pg",
                detail={"status": outcome.status},
            )  # fmt: skip
        return charge
    if isinstance(outcome, Declined):
        return _decline(conn, charge, outcome, source=source, now=now)
    if isinstance(outcome, PaymentCancelled):
        return _cancelled(conn, charge, outcome, source=source, now=now, resolve=resolve)
    assert isinstance(outcome, Unknown)
    if charge.status in ("created", "in_progress"):
        return move(
            conn, charge, "unknown", now=now, source=source, detail={"reason": outcome.reason},
            next_check_at=next_check(0, now), checks=0,
        )  # fmt: skip
    return charge


def _approve(
    conn: Connection,
    charge: Charge,
    outcome: Approved,
    *,
    source: str,
    now: datetime,
    resolve: WalletResolver,
) -> Charge:
    if charge.status in CREDITED_STATUSES:
        if outcome.payment_key != charge.payment_key:
            return annotate(
                conn, charge, now=now, source=source, event="second_approval",
                detail={"payment_key": outcome.payment_key}, attention="second_approval",
            )  # fmt: skip
        return charge
    if not may_move(charge.status, "approved"):
        return annotate(
            conn, charge, now=now, source=source, event="approved_after_failure",
            detail={"payment_key": outcome.payment_key}, attention="approved_after_failure",
            next_check_at=None,
        )  # fmt: skip
    mismatch = _mismatch(charge, outcome)
    if mismatch:
        return annotate(
            conn, charge, now=now, source=source, event="approved_amount_mismatch",
            detail=mismatch, attention="approved_amount_mismatch", next_check_at=None,
        )  # fmt: skip
    wallet = resolve(conn, charge.service_id, charge.member_id)
    member = tenancy.get_member_by_id(conn, charge.service_id, charge.member_id)
    granted = ledger.grant(
        conn, wallet, amount=charge.amount, kind="paid", source="charge",
        actor=f"pg:{charge.pg}", now=now, reason=f"charge {charge.order_id}",
        external_id=member.external_id,
    )  # fmt: skip
    conn.execute(
        insert(charge_credits).values(
            charge_id=charge.id,
            contract_id=charge.contract_id,
            payment_key=outcome.payment_key,
            journal_id=granted.journal_id,
            created_at=now,
        )
    )
    given = bonuses.grant_for_charge(
        conn, tenancy.get_service(conn, charge.service_id), member, wallet,
        charge_ref=str(charge.id), amount=charge.amount, method=charge.method,
        paid_lot_id=granted.lot_id, now=now,
    )  # fmt: skip
    detail: dict[str, Any] = {"journal_id": str(granted.journal_id)}
    if given:
        detail["bonuses"] = [
            {"event_id": str(b.event_id), "name": b.event_name, "amount": b.amount,
             "lot_id": str(b.bonus_lot_id)}
            for b in given
        ]  # fmt: skip
    approved = move(
        conn, charge, "approved", now=now, source=source,
        event="deposited" if charge.status == "waiting_for_deposit" else "approved",
        detail=detail,
        payment_key=outcome.payment_key, journal_id=granted.journal_id, lot_id=granted.lot_id,
        approved_at=outcome.approved_at, next_check_at=None,
    )  # fmt: skip
    emit_charge_event(conn, approved, "charge.approved", now, external_id=member.external_id)
    return approved


def _mismatch(charge: Charge, outcome: Approved) -> dict[str, Any] | None:
    """What the PG approved that differs from the charge (None: it all agrees)."""
    ours = (charge.order_id, charge.amount, charge.currency)
    theirs = (outcome.order_id, outcome.amount, outcome.currency)
    if ours == theirs:
        return None
    return {"expected": list(ours), "approved": list(theirs)}


def _decline(
    conn: Connection, charge: Charge, outcome: Declined, *, source: str, now: datetime
) -> Charge:
    if charge.status == "waiting_for_deposit":
        target = "expired"
    elif charge.status == "created" and source == "janitor":
        target = "expired"  # the member left the checkout page and the window closed
    elif charge.status in ("created", "in_progress", "unknown"):
        target = "failed"
    else:
        return _ignore(conn, charge, outcome, source=source, now=now)
    moved = move(
        conn, charge, target, now=now, source=source,  # type: ignore[arg-type]
        detail={"code": outcome.code, "message": outcome.message},
        failure_code=outcome.code[:100], failure_message=outcome.message, next_check_at=None,
    )  # fmt: skip
    emit_charge_event(conn, moved, f"charge.{target}", now)
    return moved


def _cancelled(
    conn: Connection,
    charge: Charge,
    outcome: PaymentCancelled,
    *,
    source: str,
    now: datetime,
    resolve: WalletResolver,
) -> Charge:
    if charge.status in OPEN_STATUSES:
        # Cancelled at the PG before we credited anything: nothing to take back.
        moved = move(
            conn, charge, "cancelled", now=now, source=source, next_check_at=None,
            payment_key=outcome.payment_key,
        )  # fmt: skip
        emit_charge_event(conn, moved, "charge.cancelled", now)
        return moved
    if charge.status in CREDITED_STATUSES:
        cancelled_total = outcome.total_amount - outcome.balance_amount
        last_key = outcome.cancels[-1].transaction_key if outcome.cancels else None
        refunds.reconcile(
            conn, charge, cancelled_total, last_key, source=source, now=now, resolve=resolve
        )
        return charge_by_id(conn, charge.id)
    return _ignore(conn, charge, outcome, source=source, now=now)


def _ignore(
    conn: Connection, charge: Charge, outcome: PaymentOutcome, *, source: str, now: datetime
) -> Charge:
    """A message that would move the charge backwards: kept on the timeline, nothing else."""
    return annotate(
        conn, charge, now=now, source=source, event="stale_message_ignored",
        detail={"outcome": type(outcome).__name__},
    )  # fmt: skip
