"""The ledger's SQL for the write paths: locking a wallet, loading lots, holds and draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from coffer.kernel.errors import NotFound
from coffer.ledger.model import Draw, LotView
from coffer.ledger.tables import holds, journals, lot_draws, lots, wallets


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: UUID
    service_id: UUID
    member_id: UUID
    amount: int
    committed: int
    status: str
    reference: str | None
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None


_lock_wallet = (
    select(wallets.c.member_id).where(wallets.c.member_id == bindparam("member")).with_for_update()
)
_open_lots = select(
    lots.c.id, lots.c.kind, lots.c.remaining, lots.c.expires_at, lots.c.created_at
).where(lots.c.member_id == bindparam("member"), lots.c.remaining > 0)


def lock_wallet(conn: Connection, member_id: UUID) -> None:
    """Take the member's wallet row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already has it).

    Every write on a member's cash starts here, so a member's operations are serialised and
    nobody else's are: the wallet row is hot only for its own member.
    """
    found = conn.execute(_lock_wallet, {"member": member_id}).first()
    if found is None:
        raise NotFound("wallet_not_found", "The member has no wallet.")


def open_lots(conn: Connection, member_id: UUID) -> list[LotView]:
    rows = conn.execute(_open_lots, {"member": member_id}).all()
    return [LotView(r.id, r.kind, r.remaining, r.expires_at, r.created_at) for r in rows]


def due_lots(conn: Connection, member_id: UUID, now: datetime) -> list[Draw]:
    """What of the member's lots has expired and not yet gone to breakage."""
    rows = conn.execute(
        select(lots.c.id, lots.c.kind, lots.c.remaining)
        .where(
            lots.c.member_id == member_id,
            lots.c.remaining > 0,
            lots.c.expires_at.isnot(None),
            lots.c.expires_at <= now,
        )
        .order_by(lots.c.expires_at, lots.c.id)
    ).all()
    return [Draw(r.id, r.kind, r.remaining) for r in rows]


def journal_draws(conn: Connection, journal_id: UUID) -> list[Draw]:
    """The lots a journal drew from (positive draws only), in the order they were drawn."""
    rows = conn.execute(
        select(lot_draws.c.lot_id, lots.c.kind, lot_draws.c.amount)
        .join(lots, lots.c.id == lot_draws.c.lot_id)
        .where(lot_draws.c.journal_id == journal_id, lot_draws.c.amount > 0)
        .order_by(lot_draws.c.id)
    ).all()
    return [Draw(r.lot_id, r.kind, r.amount) for r in rows]


def find_journal(conn: Connection, service_id: UUID, journal_id: UUID) -> dict[str, object]:
    row = (
        conn.execute(
            select(journals).where(journals.c.id == journal_id, journals.c.service_id == service_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("journal_not_found", "No such transaction in this service.")
    return dict(row)


def reversal_of(conn: Connection, journal_id: UUID) -> UUID | None:
    return conn.execute(
        select(journals.c.id).where(journals.c.reverses_id == journal_id)
    ).scalar_one_or_none()


def get_hold(conn: Connection, service_id: UUID, hold_id: UUID) -> HoldRow:
    row = conn.execute(
        select(holds).where(holds.c.id == hold_id, holds.c.service_id == service_id)
    ).first()
    if row is None:
        raise NotFound("hold_not_found", "No such hold in this service.")
    return HoldRow(**row._mapping)


def reserve_journal_id(conn: Connection, hold_id: UUID) -> UUID:
    journal_id: UUID = conn.execute(
        select(journals.c.id).where(journals.c.hold_id == hold_id, journals.c.kind == "hold")
    ).scalar_one()
    return journal_id


def due_holds(conn: Connection, now: datetime, limit: int) -> list[tuple[UUID, UUID, UUID]]:
    """(service, member, hold) of active holds past their expiry, oldest first."""
    rows = conn.execute(
        select(holds.c.service_id, holds.c.member_id, holds.c.id)
        .where(holds.c.status == "active", holds.c.expires_at <= now)
        .order_by(holds.c.expires_at)
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def members_with_due_lots(conn: Connection, now: datetime, limit: int) -> list[tuple[UUID, UUID]]:
    """(service, member) pairs holding expired cash not yet moved to breakage."""
    rows = conn.execute(
        select(lots.c.service_id, lots.c.member_id)
        .where(lots.c.remaining > 0, lots.c.expires_at.isnot(None), lots.c.expires_at <= now)
        .group_by(lots.c.service_id, lots.c.member_id)
        .limit(limit)
    ).all()
    return [(r[0], r[1]) for r in rows]


@dataclass(frozen=True, slots=True)
class GrantedLot:
    """A lot with what taking it back needs: how it was funded and whether it is whole."""

    id: UUID
    kind: str
    source: str
    amount: int
    remaining: int
    expires_at: datetime | None
    journal_kind: str


def granted_lot(conn: Connection, member_id: UUID, lot_id: UUID) -> GrantedLot | None:
    """The member's lot ``lot_id`` (None: no such lot of this member)."""
    row = conn.execute(
        select(lots.c.id, lots.c.kind, lots.c.source, lots.c.amount, lots.c.remaining,
               lots.c.expires_at, journals.c.kind.label("journal_kind"))
        .join(journals, journals.c.id == lots.c.journal_id)
        .where(lots.c.id == lot_id, lots.c.member_id == member_id)
    ).first()  # fmt: skip
    return None if row is None else GrantedLot(*row)
