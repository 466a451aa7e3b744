"""Reading charges for people: the admin search, a member's own charges, their unspent cash.

Pages are newest first; the cursor is the id of the last charge of the previous page (ids are
UUIDv7, so id order is creation order). Every function is scoped to one service, and the
member-facing ones to one member as well: another member's charge is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer.kernel.errors import NotFound
from coffer.ledger.tables import lots
from coffer.payments.charges import Charge
from coffer.payments.refunds import REFUNDABLE_STATUSES
from coffer.payments.tables import charges
from coffer.tenancy.tables import members


@dataclass(frozen=True, slots=True)
class ChargeFilter:
    """What to look for; ``None`` (or False) leaves a criterion out."""

    member_id: UUID | None = None
    status: str | None = None
    method: str | None = None
    attention_only: bool = False


@dataclass(frozen=True, slots=True)
class ChargeRow:
    """A charge with the external id of its member (what a list shows)."""

    charge: Charge
    external_id: str


@dataclass(frozen=True, slots=True)
class ChargePage:
    rows: list[ChargeRow]
    #: The cursor of the next (older) page; None on the last page.
    next_cursor: UUID | None

    @property
    def charges(self) -> list[Charge]:
        return [row.charge for row in self.rows]


def search_charges(
    conn: Connection,
    service_id: UUID,
    chosen: ChargeFilter,
    *,
    before: UUID | None = None,
    limit: int = 50,
) -> ChargePage:
    """One page of a service's charges matching ``chosen``, newest first."""
    query = (
        select(charges, members.c.external_id)
        .join(members, members.c.id == charges.c.member_id)
        .where(charges.c.service_id == service_id)
    )
    if chosen.member_id is not None:
        query = query.where(charges.c.member_id == chosen.member_id)
    if chosen.status is not None:
        query = query.where(charges.c.status == chosen.status)
    if chosen.method is not None:
        query = query.where(charges.c.method == chosen.method)
    if chosen.attention_only:
        query = query.where(charges.c.attention.isnot(None))
    if before is not None:
        query = query.where(charges.c.id < before)
    found = conn.execute(query.order_by(charges.c.id.desc()).limit(limit + 1)).mappings().all()
    rows = [ChargeRow(Charge.of(row), row["external_id"]) for row in found[:limit]]
    more = len(found) > limit
    return ChargePage(rows, rows[-1].charge.id if more and rows else None)


def member_charge(conn: Connection, service_id: UUID, member_id: UUID, charge_id: UUID) -> Charge:
    """One of the member's own charges; any other charge is ``charge_not_found``."""
    row = (
        conn.execute(
            select(charges).where(
                charges.c.id == charge_id,
                charges.c.service_id == service_id,
                charges.c.member_id == member_id,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("charge_not_found", "No such charge.")
    return Charge.of(row)


def refundable_amounts(conn: Connection, found: list[Charge]) -> dict[UUID, int]:
    """What of each charge can still be refunded (as ``refunds.refundable``), in one query."""
    lot_of = {
        charge.lot_id: charge.id
        for charge in found
        if charge.status in REFUNDABLE_STATUSES and charge.lot_id is not None
    }
    amounts = dict.fromkeys((charge.id for charge in found), 0)
    if lot_of:
        remaining = conn.execute(
            select(lots.c.id, lots.c.remaining).where(lots.c.id.in_(list(lot_of)))
        )
        for lot_id, left in remaining:
            amounts[lot_of[lot_id]] = int(left)
    return amounts
