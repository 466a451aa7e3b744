"""The admin's refund of a charge: one transaction with the refund and its audit row.

The cash leaves the member's wallet now (from the charge's own paid lot) and the PG cancel
follows as a job (see :mod:`coffer.payments.refunds`); the audit row records the charge before
and after, so it exists exactly when the refund does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.audit import service as audit
from coffer.payments import charges, refunds
from coffer.payments.charges import Charge
from coffer.payments.refunds import Refund
from coffer.tenancy.model import Service
from coffer.web.admin.desk.operator import Operator


def _state(conn: Connection, charge: Charge) -> dict[str, Any]:
    return {
        "order_id": charge.order_id,
        "status": charge.status,
        "refunded": charge.refunded,
        "refundable": refunds.refundable(conn, charge),
    }


def refund_charge(
    conn: Connection,
    service: Service,
    charge_id: UUID,
    *,
    amount: int,
    reason: str,
    who: Operator,
    now: datetime,
) -> Refund:
    """Refund ``amount`` of the charge's unspent cash; refusals raise and change nothing."""
    charge = charges.get_charge(conn, service.id, charge_id)
    before = _state(conn, charge)
    refund = refunds.request_refund(
        conn,
        service.id,
        charge.id,
        amount=amount,
        reason=reason,
        actor=who.journal_actor,
        now=now,
        timezone=service.timezone,
        resolve=app.resolve_wallet,
    )
    after = {
        **_state(conn, charges.get_charge(conn, service.id, charge.id)),
        "refund_id": refund.id,
        "refund_amount": refund.amount,
        "refund_kind": refund.kind,
        "refund_status": refund.status,
    }
    audit.record(
        conn,
        actor=who.audit_actor,
        action="charges.refund",
        target_type="charge",
        target_id=str(charge.id),
        service_id=service.id,
        before=before,
        after=after,
        reason=reason,
        address=who.address,
        now=now,
    )
    return refund
