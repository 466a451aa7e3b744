"""Refunds of charges (charge cancellation), within the database.

The cash leaves first (:func:`request_refund`, from the charge's own paid lot only, so spent
cash can never be refunded), then the PG cancel runs as a job. A refused cancel puts the cash
back into the same lot and the refund shows why. A charge has at most one refund waiting on its
PG at a time (a partial unique index says so), which makes a PG's cancel list unambiguous.

A charge that earned event bonus takes it back with the refund, by the service's
``bonus_refund`` rule (``pricing.bonuses``): in proportion, or the refund is refused
(``bonus_spent_blocks_refund``, before any cash moves) while the member has spent it. A refused
cancel puts the bonus back too; a final refund returns it to the event's budget.

Carrier billing (``mobile``) can be cancelled only in the calendar month of the payment (the
service's time zone); after that a refund is a ``bank_refund``: the cash leaves the wallet at
once and a person pays the member back by bank transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.db.outbox import enqueue
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.ledger.service import WalletResolver
from coffer.ledger.tables import lots
from coffer.payments.charges import (
    CONFIRM_GRACE,
    Charge,
    annotate,
    charge_by_id,
    emit_charge_event,
    move,
    record,
)
from coffer.payments.rechecks import GAVE_UP, next_check
from coffer.payments.states import REFUND_IN_FLIGHT, ChargeStatus, RefundStatus
from coffer.payments.tables import refunds
from coffer.pricing import bonuses
from coffer.tenancy import service as tenancy

REFUND_JOB = "payments.refund"
REFUNDABLE_STATUSES = ("approved", "partially_cancelled")


@dataclass(frozen=True, slots=True)
class Refund:
    id: UUID
    charge_id: UUID
    service_id: UUID
    kind: str
    amount: int
    status: RefundStatus
    reason: str
    actor: str
    journal_id: UUID
    reversal_journal_id: UUID | None
    transaction_key: str | None
    failure_code: str | None
    failure_message: str | None
    attempts: int
    next_check_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> Refund:
        return cls(**{name: row[name] for name in cls.__slots__})


def refundable(conn: Connection, charge: Charge) -> int:
    """What of the charge can still be refunded: the unspent part of its paid lot."""
    if charge.status not in REFUNDABLE_STATUSES or charge.lot_id is None:
        return 0
    remaining = conn.execute(select(lots.c.remaining).where(lots.c.id == charge.lot_id))
    return int(remaining.scalar_one())


def request_refund(
    conn: Connection,
    service_id: UUID,
    charge_id: UUID,
    *,
    amount: int | None,
    reason: str,
    actor: str,
    now: datetime,
    timezone: str,
    resolve: WalletResolver,
) -> Refund:
    """Take the cash out and queue the PG cancel (or record a bank refund); all or nothing."""
    if amount is not None:
        parse_amount(amount)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise InvalidInput("invalid_reason", "reason is required (at most 500 characters).")
    if not is_storable_text(reason, multiline=True):
        raise InvalidInput("invalid_reason", "reason contains characters that cannot be stored.")
    charge = charge_by_id(conn, charge_id, lock=True)
    if charge.service_id != service_id:
        raise NotFound("charge_not_found", "No such charge in this service.")
    if charge.status not in REFUNDABLE_STATUSES or charge.lot_id is None:
        raise Conflict("charge_not_refundable", f"A {charge.status} charge cannot be refunded.")
    if in_flight(conn, charge.id) is not None:
        raise Conflict("refund_in_progress", "A refund of this charge is still with the PG.")
    wallet = resolve(conn, charge.service_id, charge.member_id)
    member = tenancy.get_member_by_id(conn, charge.service_id, charge.member_id)
    unspent = refundable(conn, charge)
    wanted = amount if amount is not None else unspent
    if wanted == 0:
        raise Conflict("refund_exceeds_unspent", "Nothing of this charge is left unspent.")
    if wanted > unspent:  # before the bonus rule: too much is not a spent bonus's fault
        raise Conflict(
            "refund_exceeds_unspent",
            f"Only {unspent} of this charge is unspent and can be refunded.",
        )
    service = tenancy.get_service(conn, charge.service_id)
    refunded_total = refunded_so_far(conn, charge.id) + wanted
    # The service's bonus rule may refuse the refund: before any cash moves.
    bonuses.check_refund(
        conn, service, paid_lot_id=charge.lot_id, charge_amount=charge.amount,
        refunded_total=refunded_total, now=now,
    )  # fmt: skip
    taken = ledger.withdraw_charge(
        conn, wallet, charge.lot_id, amount=wanted, reference=f"refund:{charge.order_id}",
        actor=actor, now=now, reason=reason, external_id=member.external_id,
    )  # fmt: skip
    kind = "pg_cancel" if _pg_can_cancel(charge, now, timezone) else "bank_refund"
    refund_id = uuid7()
    clawed = bonuses.claw_back_for_refund(
        conn, service, wallet, paid_lot_id=charge.lot_id, charge_amount=charge.amount,
        refunded_total=refunded_total, refund_ref=str(refund_id), actor=actor, now=now,
        external_id=member.external_id,
    )  # fmt: skip
    conn.execute(
        insert(refunds).values(
            id=refund_id, charge_id=charge.id, service_id=charge.service_id, kind=kind,
            amount=wanted, status="pending" if kind == "pg_cancel" else "requested",
            reason=reason, actor=actor, journal_id=taken.journal_id, attempts=0,
            created_at=now, updated_at=now,
        )
    )  # fmt: skip
    detail: dict[str, Any] = {"refund_id": str(refund_id), "amount": wanted}
    if clawed:
        detail["bonus_clawed_back"] = sum(c.amount for c in clawed)
    record(conn, charge.id, now, "refund", f"refund_{kind}_requested", charge.status,
           charge.status, detail)  # fmt: skip
    if kind == "pg_cancel":
        enqueue(conn, REFUND_JOB, {"refund_id": str(refund_id)}, now=now, service_id=service_id)
    else:
        _mark_refunded(conn, charge, wanted, now=now, source="refund")
        bonuses.settle_refund(conn, str(refund_id), now=now)
    return get_refund(conn, refund_id)


def refunded_so_far(conn: Connection, charge_id: UUID) -> int:
    """What of the charge its refunds have taken (done, recorded or with the PG; not refused)."""
    total = conn.execute(
        select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.charge_id == charge_id, refunds.c.status != "refused"
        )
    )
    return int(total.scalar_one())


def _pg_can_cancel(charge: Charge, now: datetime, timezone: str) -> bool:
    """Carrier billing cancels only within the payment's calendar month; the rest always."""
    if charge.method != "mobile" or charge.approved_at is None:
        return True
    zone = ZoneInfo(timezone)
    paid, today = charge.approved_at.astimezone(zone), now.astimezone(zone)
    return (paid.year, paid.month) == (today.year, today.month)


def get_refund(conn: Connection, refund_id: UUID, *, lock: bool = False) -> Refund:
    query = select(refunds).where(refunds.c.id == refund_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("refund_not_found", "No such refund.")
    return Refund.of(row)


def charge_refunds(conn: Connection, charge_id: UUID) -> list[Refund]:
    rows = conn.execute(
        select(refunds).where(refunds.c.charge_id == charge_id).order_by(refunds.c.id)
    ).mappings()
    return [Refund.of(row) for row in rows]


def in_flight(conn: Connection, charge_id: UUID) -> Refund | None:
    row = (
        conn.execute(
            select(refunds).where(
                refunds.c.charge_id == charge_id, refunds.c.status.in_(sorted(REFUND_IN_FLIGHT))
            )
        )
        .mappings()
        .first()
    )
    return Refund.of(row) if row is not None else None


def mark_sending(conn: Connection, refund_id: UUID, now: datetime) -> Refund | None:
    """Claim an in-flight refund for a cancel call; None if it is no longer in flight.

    The claim is a lease (``next_check_at``): while another process's cancel call may still be
    in flight the refund cannot be claimed again (two cancels would refund twice). A sender that
    died leaves the lease to run out; the janitor (or the retried job) then takes it over.
    """
    refund = get_refund(conn, refund_id, lock=True)
    if refund.status not in REFUND_IN_FLIGHT:
        return None
    lease = refund.next_check_at
    if refund.status == "sending" and lease is not None and lease > now:
        return None  # another process's cancel call may still be in flight
    conn.execute(
        update(refunds)
        .where(refunds.c.id == refund_id)
        .values(
            status="sending",
            attempts=refund.attempts + 1,
            updated_at=now,
            next_check_at=now + CONFIRM_GRACE,
        )
    )
    return get_refund(conn, refund_id)


def complete(
    conn: Connection, refund: Refund, transaction_key: str | None, *, source: str, now: datetime
) -> None:
    """The PG cancelled the refund's amount: the refund is done and the charge shows it.

    Once per refund: the move to ``done`` is guarded on the refund still being in flight, so
    a second completion (a racing janitor, a replayed answer) changes nothing.
    """
    charge = charge_by_id(conn, refund.charge_id, lock=True)
    finished = conn.execute(
        update(refunds)
        .where(refunds.c.id == refund.id, refunds.c.status.in_(sorted(REFUND_IN_FLIGHT)))
        .values(status="done", updated_at=now, transaction_key=transaction_key,
                next_check_at=None)
    )  # fmt: skip
    if finished.rowcount != 1:
        return
    _mark_refunded(conn, charge, refund.amount, now=now, source=source)
    bonuses.settle_refund(conn, str(refund.id), now=now)


def name_cancel(conn: Connection, refund: Refund, transaction_key: str) -> None:
    """Record the PG's reference of a done refund that was settled without one."""
    if refund.status == "done" and not refund.transaction_key:
        _set(conn, refund, "done", refund.updated_at, transaction_key=transaction_key)


def refuse(
    conn: Connection,
    refund: Refund,
    code: str,
    message: str,
    *,
    source: str,
    now: datetime,
    resolve: WalletResolver,
) -> None:
    """The PG refused the cancel: put the cash back into the charge's lot, say why."""
    charge = charge_by_id(conn, refund.charge_id, lock=True)
    wallet: WalletRef = resolve(conn, charge.service_id, charge.member_id)
    member = tenancy.get_member_by_id(conn, charge.service_id, charge.member_id)
    back = ledger.reverse_charge_withdrawal(
        conn, wallet, refund.journal_id, actor=f"pg:{charge.pg}", now=now,
        reason=f"{code}: {message}"[:500], external_id=member.external_id,
    )  # fmt: skip
    restored = bonuses.reverse_for_refund(
        conn, wallet, str(refund.id), actor=f"pg:{charge.pg}", now=now,
        reason=f"refund refused: {code}"[:500], external_id=member.external_id,
    )  # fmt: skip
    _set(conn, refund, "refused", now, reversal_journal_id=back.journal_id,
         failure_code=code[:100], failure_message=message, next_check_at=None)  # fmt: skip
    detail: dict[str, Any] = {"refund_id": str(refund.id), "code": code, "message": message}
    if restored:
        detail["bonus_restored"] = sum(c.amount for c in restored)
    record(conn, charge.id, now, source, "refund_refused", charge.status, charge.status, detail)
    emit_charge_event(conn, charge, "charge.refund_refused", now)


def still_unknown(
    conn: Connection, refund: Refund, reason: str, *, now: datetime, checked: bool = False
) -> None:
    """The PG's answer to the cancel was lost: ask again later, or hand it to a person.

    ``checked``: the janitor's question about the payment went unanswered (no cancel was sent).
    It counts as a try too, so a PG that stays unreachable does not keep the refund waiting on
    the same step of the schedule for ever.
    """
    attempts = refund.attempts + 1 if checked else refund.attempts
    when = next_check(attempts, now)
    _set(conn, refund, "unknown", now, next_check_at=when, failure_message=reason,
         attempts=attempts)  # fmt: skip
    if when is None:
        charge = charge_by_id(conn, refund.charge_id)
        annotate(conn, charge, now=now, source="janitor", event="refund_unsettled",
                 detail={"refund_id": str(refund.id)}, attention=GAVE_UP)  # fmt: skip


def reconcile(
    conn: Connection,
    charge: Charge,
    cancelled_total: int,
    transaction_key: str | None,
    *,
    source: str,
    now: datetime,
    resolve: WalletResolver,
) -> None:
    """Match what the PG says it has cancelled against our refunds.

    A refund in flight whose amount the PG's total now covers is done; cancelled money that no
    refund of ours explains is flagged for a person (``cancelled_outside_coffer``).
    """
    done = _pg_cancelled(conn, charge.id)
    pending = in_flight(conn, charge.id)
    if pending is not None and cancelled_total >= done + pending.amount:
        complete(conn, pending, transaction_key, source=source, now=now)
        done += pending.amount
    if cancelled_total > done:
        annotate(conn, charge_by_id(conn, charge.id), now=now, source=source,
                 event="cancelled_outside_coffer", attention="cancelled_outside_coffer",
                 detail={"pg_cancelled": cancelled_total, "refunded": done})  # fmt: skip


def _pg_cancelled(conn: Connection, charge_id: UUID) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.charge_id == charge_id,
            refunds.c.kind == "pg_cancel",
            refunds.c.status == "done",
        )
    )
    return int(total.scalar_one())


def _mark_refunded(
    conn: Connection, charge: Charge, amount: int, *, now: datetime, source: str
) -> None:
    refunded = charge.refunded + amount
    target: ChargeStatus = "cancelled" if refunded == charge.amount else "partially_cancelled"
    moved = move(conn, charge, target, now=now, source=source, event="refunded",
                 detail={"amount": amount}, refunded=refunded)  # fmt: skip
    emit_charge_event(conn, moved, "charge.refunded", now)


def _set(
    conn: Connection, refund: Refund, status: RefundStatus, now: datetime, **values: object
) -> None:
    conn.execute(
        update(refunds)
        .where(refunds.c.id == refund.id)
        .values(status=status, updated_at=now, **values)
    )
