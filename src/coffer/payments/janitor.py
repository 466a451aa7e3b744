"""The janitor: settles charges and refunds whose outcome is not known (DESIGN §8).

Every minute (the ``payments.janitor`` job) it visits the charges and refunds whose
``next_check_at`` has come: it asks the PG and applies the answer through the same code as the
confirm call and webhooks, so whichever arrives first takes effect and the rest are no-ops.

- A charge the member authorised but Coffer never confirmed (the process died, or the confirm's
  answer was lost and the PG still says ``READY``/``IN_PROGRESS``) is confirmed now.
- A charge still ``created`` after its checkout window is expired.
- A charge or refund still open after the whole schedule (:mod:`rechecks`) is flagged for a
  person (``attention = janitor_gave_up``). Each visit is on the charge's timeline with the
  state before and after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer.payments.apply import apply_outcome
from coffer.payments.charges import Charge, annotate, charge_by_id
from coffer.payments.charging import PaymentsContext, confirm, process_refund, record_call, timed
from coffer.payments.gateways.outcomes import Declined, PaymentOutcome, Pending, Unknown
from coffer.payments.rechecks import GAVE_UP, next_check
from coffer.payments.states import OPEN_STATUSES, REFUND_IN_FLIGHT
from coffer.payments.tables import charges
from coffer.payments.tables import refunds as refunds_table

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JanitorReport:
    charges_visited: int
    charges_settled: int
    refunds_visited: int
    failures: int


def run(ctx: PaymentsContext, *, limit: int = 100) -> JanitorReport:
    """Visit what is due; one PG failing never stops the others."""
    now = ctx.clock.now()
    due_charges, due_refunds = ctx.db.read(lambda conn: _due(conn, now, limit))
    settled = failures = 0
    for charge_id in due_charges:
        try:
            after = visit(ctx, charge_id)
        except Exception:  # logged; the next run tries again
            log.exception("janitor: charge %s", charge_id)
            failures += 1
            continue
        settled += after.status not in OPEN_STATUSES
    for refund_id in due_refunds:
        try:
            process_refund(ctx, refund_id)
        except Exception:
            log.exception("janitor: refund %s", refund_id)
            failures += 1
    return JanitorReport(len(due_charges), settled, len(due_refunds), failures)


def _due(conn: Connection, now: datetime, limit: int) -> tuple[list[UUID], list[UUID]]:
    due_charges = conn.execute(
        select(charges.c.id)
        .where(charges.c.next_check_at <= now, charges.c.status.in_(sorted(OPEN_STATUSES)))
        .order_by(charges.c.next_check_at)
        .limit(limit)
    ).scalars()
    due_refunds = conn.execute(
        select(refunds_table.c.id)
        .where(
            refunds_table.c.next_check_at <= now,
            refunds_table.c.status.in_(sorted(REFUND_IN_FLIGHT)),
        )
        .order_by(refunds_table.c.next_check_at)
        .limit(limit)
    ).scalars()
    return list(due_charges), list(due_refunds)


def visit(ctx: PaymentsContext, charge_id: UUID) -> Charge:
    """Ask the PG about one charge and settle or reschedule it."""
    charge = ctx.db.read(lambda conn: charge_by_id(conn, charge_id))
    if charge.status not in OPEN_STATUSES:
        return charge
    gateway = ctx.gateways(charge.contract_id)
    if charge.payment_key is not None:
        key = charge.payment_key
        outcome, ms = timed(lambda: gateway.query(payment_key=key))
    else:
        outcome, ms = timed(lambda: gateway.query(order_id=charge.order_id))
    if isinstance(outcome, Pending) and charge.status in ("in_progress", "unknown"):
        confirmed = confirm(ctx, gateway, charge, outcome.payment_key, "janitor")
        if confirmed.status not in ("in_progress", "unknown"):
            return confirmed

        # The confirm's answer was lost again: the charge waits for its next check like after
        # any other visit, so the schedule (and giving up at its end) still applies.
        def reschedule(conn: Connection) -> Charge:
            after = charge_by_id(conn, charge_id, lock=True)
            return _reschedule(conn, charge, after, outcome, ctx.clock.now())

        return ctx.db.write(reschedule)
    now = ctx.clock.now()
    closed = charge.status == "created" and now >= charge.checkout_expires_at
    if closed and isinstance(outcome, Pending | Declined):
        outcome = Declined("checkout_expired", "The member did not finish the checkout.")

    def settle(conn: Connection) -> Charge:
        now = ctx.clock.now()
        record_call(conn, charge, outcome, ms, now)
        before = charge_by_id(conn, charge_id, lock=True)
        if before.status == "created" and isinstance(outcome, Unknown):
            # An abandoned checkout the PG cannot be asked about stays abandoned: moved to
            # unknown, a later READY would have the janitor confirm a payment nobody finished.
            return _reschedule(conn, before, before, outcome, now)
        after = apply_outcome(conn, charge_id, outcome, source="janitor", now=now,
                              resolve=ctx.resolve)  # fmt: skip
        return _reschedule(conn, before, after, outcome, now)

    return ctx.db.write(settle)


def _reschedule(
    conn: Connection, before: Charge, after: Charge, outcome: PaymentOutcome, now: datetime
) -> Charge:
    """Log the visit; a charge the PG's answer left open waits for its next check."""
    if after.status not in OPEN_STATUSES:
        return after
    if after.status == "waiting_for_deposit" and before.status != after.status:
        return after  # a new virtual account: first looked at on its due date
    checks = after.checks + 1 if after.status == before.status else 0
    when = next_check(checks, now)
    return annotate(
        conn, after, now=now, source="janitor", event="checked",
        detail={"outcome": type(outcome).__name__, "checks": checks},
        checks=checks, next_check_at=when,
        **({"attention": GAVE_UP} if when is None else {}),
    )  # fmt: skip
