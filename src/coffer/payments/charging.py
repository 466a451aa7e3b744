"""The charge flows that talk to a PG: checkout, the member's return, webhooks, refunds.

A PG call never runs inside a database transaction. Each flow commits what it is about to do
(``in_progress`` with the payment key, a refund ``sending``), calls the PG, and applies the answer
in a second transaction. A process killed between the two leaves a row the janitor (or the
retried request) finishes: see docs/charges.md for each crash point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.db.transaction import Database
from coffer.db.upsert import insert_if_absent
from coffer.kernel.clock import Clock
from coffer.kernel.crash import crash_point
from coffer.kernel.errors import Conflict
from coffer.ledger.service import WalletResolver
from coffer.payments import health, refunds
from coffer.payments.apply import apply_outcome
from coffer.payments.charges import (
    CONFIRM_GRACE,
    Charge,
    annotate,
    charge_by_id,
    charge_for_payment,
    keep_checkout_url,
    move,
)
from coffer.payments.directory import GatewayProvider
from coffer.payments.gateways.outcomes import (
    Cancelled,
    CancelOutcome,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Unknown,
)
from coffer.payments.gateways.port import CheckoutRequest, Gateway, ReturnParams
from coffer.payments.states import REFUND_IN_FLIGHT
from coffer.payments.tables import pg_webhook_events

T = TypeVar("T")


@dataclass(frozen=True)
class PaymentsContext:
    """What the flows need: the database, a clock, the PGs and the member wallets."""

    db: Database
    clock: Clock
    gateways: GatewayProvider
    resolve: WalletResolver


@dataclass(frozen=True, slots=True)
class ReturnResult:
    """The charge after the member's return; ``problem`` says why it was not confirmed."""

    charge: Charge
    problem: str | None = None


def timed(call: Callable[[], T]) -> tuple[T, int]:
    started = time.monotonic()
    result = call()
    return result, int((time.monotonic() - started) * 1000)


def record_call(
    conn: Connection,
    charge: Charge,
    outcome: PaymentOutcome | CancelOutcome,
    ms: int,
    now: datetime,
) -> None:
    health.record_call(
        conn, charge.contract_id, ok=not isinstance(outcome, Unknown), latency_ms=ms, now=now
    )


def checkout_url(ctx: PaymentsContext, charge_id: UUID, success_url: str, fail_url: str) -> str:
    """The PG's hosted checkout page for a charge still waiting for its member.

    Made once per charge and kept: a reload or a second visit goes back to the same page, so a
    member can never open (and pay) two PG checkouts for one charge.
    """
    charge = ctx.db.read(lambda conn: charge_by_id(conn, charge_id))
    if charge.status != "created" or ctx.clock.now() >= charge.checkout_expires_at:
        raise Conflict("checkout_closed", f"This charge is {charge.status}; start a new one.")
    if charge.pg_checkout_url is not None:
        return charge.pg_checkout_url
    request = CheckoutRequest(
        order_id=charge.order_id,
        amount=charge.amount,
        currency=charge.currency,
        method=charge.method,  # type: ignore[arg-type]
        order_name=f"Cash {charge.amount:,}",
        success_url=success_url,
        fail_url=fail_url,
    )
    made = ctx.gateways(charge.contract_id).checkout_url(request)
    return ctx.db.write(lambda conn: keep_checkout_url(conn, charge_id, made))


def complete_return(
    ctx: PaymentsContext, charge_id: UUID, query: Mapping[str, str]
) -> ReturnResult:
    """The member came back from the PG: check the return, confirm, apply the answer.

    Safe to repeat (a browser refresh, a retried request): a settled charge is returned as it
    is, and a charge still in progress is confirmed again (the PG answers a second confirm with
    the payment's state).
    """
    charge = ctx.db.read(lambda conn: charge_by_id(conn, charge_id))
    gateway = ctx.gateways(charge.contract_id)
    params = gateway.parse_return(query)
    begun = ctx.db.write(lambda conn: _begin_confirm(conn, charge_id, params, ctx.clock.now()))
    if begun.problem is not None or begun.charge.status not in ("in_progress", "unknown"):
        return begun
    return ReturnResult(confirm(ctx, gateway, begun.charge, params.payment_key, "confirm"))


def _begin_confirm(
    conn: Connection, charge_id: UUID, params: ReturnParams, now: datetime
) -> ReturnResult:
    charge = charge_by_id(conn, charge_id, lock=True)
    if params.order_id != charge.order_id or params.amount not in (None, charge.amount):
        detail = {"order_id": params.order_id, "amount": params.amount}
        if charge.status == "created":
            charge = move(
                conn, charge, "failed", now=now, source="return", event="return_tampered",
                detail=detail, failure_code="return_mismatch", attention="return_mismatch",
                failure_message="The return from the PG did not match the charge.",
                next_check_at=None,
            )  # fmt: skip
        else:
            charge = annotate(conn, charge, now=now, source="return", event="return_tampered",
                              detail=detail, attention="return_mismatch")  # fmt: skip
        return ReturnResult(charge, "return_mismatch")
    if charge.status not in ("created", "in_progress", "unknown"):
        return ReturnResult(charge)  # settled already: a refresh or a retried request
    if charge.payment_key is not None and charge.payment_key != params.payment_key:
        charge = annotate(
            conn, charge, now=now, source="return", event="other_payment_key",
            detail={"payment_key": params.payment_key}, attention="return_mismatch",
        )  # fmt: skip
        return ReturnResult(charge, "return_mismatch")
    if charge.status == "created":
        if now >= charge.checkout_expires_at:
            charge = move(
                conn, charge, "expired", now=now, source="return", next_check_at=None,
                failure_code="checkout_expired", failure_message="The member came back too late.",
            )  # fmt: skip
            return ReturnResult(charge, "checkout_expired")
        charge = move(
            conn, charge, "in_progress", now=now, source="return",
            payment_key=params.payment_key, next_check_at=now + CONFIRM_GRACE,
        )  # fmt: skip
    return ReturnResult(charge)


def confirm(
    ctx: PaymentsContext, gateway: Gateway, charge: Charge, payment_key: str, source: str
) -> Charge:
    outcome, ms = timed(lambda: gateway.confirm(payment_key, charge.order_id, charge.amount))
    crash_point("charge.after_pg_confirm")

    def settle(conn: Connection) -> Charge:
        now = ctx.clock.now()
        record_call(conn, charge, outcome, ms, now)
        return apply_outcome(conn, charge.id, outcome, source=source, now=now, resolve=ctx.resolve)

    settled = ctx.db.write(settle)
    crash_point("charge.after_commit")
    return settled


def fail_return(ctx: PaymentsContext, charge_id: UUID, query: Mapping[str, str]) -> Charge:
    """The member gave up or the PG refused on its page: a charge not yet confirmed fails."""
    code = (query.get("code") or "PAY_PROCESS_CANCELED")[:100]
    message = (query.get("message") or "The payment was not completed.")[:500]

    def work(conn: Connection) -> Charge:
        charge = charge_by_id(conn, charge_id, lock=True)
        if charge.status != "created":
            return charge
        return move(conn, charge, "failed", now=ctx.clock.now(), source="return",
                    detail={"code": code}, failure_code=code, failure_message=message,
                    next_check_at=None)  # fmt: skip

    return ctx.db.write(work)


def receive_webhook(
    ctx: PaymentsContext, contract_id: UUID, headers: Mapping[str, str], body: bytes
) -> str:
    """Verify, then apply a PG webhook once: ``applied``, ``duplicate`` or ``unmatched``.

    The event id is recorded in the same transaction as its effect, so a redelivery (or 50 at
    once) is a no-op, and an event that failed half way is applied again when redelivered.
    """
    # An unknown contract is 404 pg_contract_not_found: the gateway lookup reads it.
    event = ctx.gateways(contract_id).verify_webhook(headers, body, ctx.clock.now())

    def work(conn: Connection) -> str:
        now = ctx.clock.now()
        charge = charge_for_payment(conn, contract_id, event.order_id, event.payment_key)
        fresh = insert_if_absent(
            conn, pg_webhook_events,
            {"contract_id": contract_id, "event_id": event.event_id[:200],
             "event_type": event.event_type[:100], "received_at": now,
             "charge_id": charge.id if charge else None},
            conflict_on=["contract_id", "event_id"],
        )  # fmt: skip
        if not fresh:
            return "duplicate"
        if charge is None:
            return "unmatched"
        apply_outcome(conn, charge.id, event.payment, source="webhook", now=now,
                      resolve=ctx.resolve)  # fmt: skip
        return "applied"

    return ctx.db.write(work)


def process_refund(ctx: PaymentsContext, refund_id: UUID) -> refunds.Refund:
    """Send a refund's cancel to its PG (once), and settle the answer.

    A refund already sent once (the job is retried, or the janitor asks after a lost answer) is
    looked up at the PG first: the PG may have cancelled already, and cancelling twice would
    refund twice.
    """
    refund = ctx.db.read(lambda conn: refunds.get_refund(conn, refund_id))
    if refund.status not in REFUND_IN_FLIGHT:
        return refund
    charge = ctx.db.read(lambda conn: charge_by_id(conn, refund.charge_id))
    gateway = ctx.gateways(charge.contract_id)
    assert charge.payment_key is not None  # a credited charge always has one
    if refund.attempts > 0:
        looked, ms = timed(lambda: gateway.query(payment_key=charge.payment_key))
        if isinstance(looked, PaymentCancelled):
            ctx.db.write(lambda conn: _settle_query(ctx, conn, charge, looked, ms))
            after = ctx.db.read(lambda conn: refunds.get_refund(conn, refund_id))
            if after.status not in REFUND_IN_FLIGHT:
                return after
        elif isinstance(looked, Unknown):
            ctx.db.write(lambda conn: _still_unknown(ctx, conn, refund_id, looked.reason))
            return ctx.db.read(lambda conn: refunds.get_refund(conn, refund_id))
    claimed = ctx.db.write(lambda conn: refunds.mark_sending(conn, refund_id, ctx.clock.now()))
    if claimed is None:
        return ctx.db.read(lambda conn: refunds.get_refund(conn, refund_id))
    key = charge.payment_key
    # The refund's id in the reason keeps two equal refunds apart at PGs whose cancel
    # idempotency key derives from the request (Stripe).
    reason = f"{claimed.reason[:150]} [refund {claimed.id}]"
    outcome, ms = timed(lambda: gateway.cancel(key, amount=claimed.amount, reason=reason))
    crash_point("refund.after_pg_cancel")
    ctx.db.write(lambda conn: _settle_cancel(ctx, conn, charge, refund_id, outcome, ms))
    return ctx.db.read(lambda conn: refunds.get_refund(conn, refund_id))


def _settle_query(
    ctx: PaymentsContext, conn: Connection, charge: Charge, looked: PaymentCancelled, ms: int
) -> None:
    now = ctx.clock.now()
    record_call(conn, charge, looked, ms, now)
    apply_outcome(conn, charge.id, looked, source="refund", now=now, resolve=ctx.resolve)


def _still_unknown(ctx: PaymentsContext, conn: Connection, refund_id: UUID, reason: str) -> None:
    charge_refund = refunds.get_refund(conn, refund_id)
    charge_by_id(conn, charge_refund.charge_id, lock=True)
    refund = refunds.get_refund(conn, refund_id)
    if refund.status in REFUND_IN_FLIGHT:
        refunds.still_unknown(conn, refund, reason, now=ctx.clock.now(), checked=True)


def _settle_cancel(
    ctx: PaymentsContext,
    conn: Connection,
    charge: Charge,
    refund_id: UUID,
    outcome: CancelOutcome,
    ms: int,
) -> None:
    now = ctx.clock.now()
    record_call(conn, charge, outcome, ms, now)
    charge_by_id(conn, charge.id, lock=True)
    refund = refunds.get_refund(conn, refund_id)
    if refund.status not in REFUND_IN_FLIGHT:
        # The PG's webhook settled it first without naming the cancel (Stripe's
        # charge.refunded lists no refunds): keep the cancel's own reference.
        if isinstance(outcome, Cancelled):
            refunds.name_cancel(conn, refund, outcome.transaction_key)
        return
    if isinstance(outcome, Cancelled):
        refunds.complete(conn, refund, outcome.transaction_key, source="refund", now=now)
    elif isinstance(outcome, Declined):
        refunds.refuse(conn, refund, outcome.code, outcome.message, source="refund", now=now,
                       resolve=ctx.resolve)  # fmt: skip
    else:
        refunds.still_unknown(conn, refund, outcome.reason, now=now)
