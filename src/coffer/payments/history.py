"""Past charges as the what-if simulation replays them (read only; docs/simulation.md).

:func:`approved_charges_between` answers the service's charges credited in ``[since, until)``
(by ``approved_at``), oldest first. A charge refunded since still counts: it was approved, and
a bonus would have been given then. Each carries the member's grade *now* and
``first_charge`` as it was: the member had no paid ``charge`` lot before this charge's lot (any
time, not only in the window; the same fact the live bonus reads, so cash granted with source
``charge`` outside a charge counts too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer.ledger import queries as ledger_queries
from coffer.payments.tables import charges
from coffer.tenancy.tables import members

#: At most this many charges are read for one simulation.
MAX_CHARGES = 200_000


@dataclass(frozen=True, slots=True)
class PastCharge:
    id: UUID
    member_id: UUID
    external_id: str
    #: The member's grade now.
    grade: str
    amount: int
    method: str
    approved_at: datetime
    #: The member had no paid charge lot before this charge's.
    first_charge: bool


def approved_charges_between(
    conn: Connection, service_id: UUID, since: datetime, until: datetime
) -> list[PastCharge]:
    """The charges credited in ``[since, until)``, oldest first (by approval time, then id)."""
    before = ledger_queries.earlier_charge_lot(charges.c.lot_id, charges.c.member_id)
    rows = conn.execute(
        select(
            charges.c.id, charges.c.member_id, members.c.external_id, members.c.grade,
            charges.c.amount, charges.c.method, charges.c.approved_at, before.label("before"),
        )
        .join(members, members.c.id == charges.c.member_id)
        .where(
            charges.c.service_id == service_id,
            charges.c.approved_at.is_not(None),
            charges.c.approved_at >= since,
            charges.c.approved_at < until,
        )
        .order_by(charges.c.approved_at, charges.c.id)
        .limit(MAX_CHARGES)
    )  # fmt: skip
    return [
        PastCharge(
            id=r.id, member_id=r.member_id, external_id=r.external_id, grade=r.grade,
            amount=r.amount, method=r.method, approved_at=r.approved_at,
            first_charge=not r.before,
        )
        for r in rows
    ]  # fmt: skip
