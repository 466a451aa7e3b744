"""Reads: balances, lots, history and journals. No writes; safe in a read transaction.

Balances are exact without waiting for the expiry job: cash in lots past their expiry is left
out of ``paid``/``bonus`` even before the sweep moves it to breakage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Exists, and_, case, exists, func, or_, select
from sqlalchemy.engine import Connection

from coffer.kernel.errors import InvalidInput, NotFound
from coffer.ledger.accounts import member_account_id
from coffer.ledger.model import Balance
from coffer.ledger.store import HoldRow
from coffer.ledger.tables import accounts, holds, journals, lot_draws, lots, postings, wallets

EXPIRING_SOON = timedelta(days=30)
HISTORY_MAX_LIMIT = 200

#: Journal kinds a member's history can be filtered by.
JOURNAL_KINDS = (
    "grant",
    "spend",
    "spend_reversal",
    "hold",
    "hold_commit",
    "hold_release",
    "hold_expiry",
    "expiry",
    "charge_refund",
    "charge_refund_reversal",
    "bonus_clawback",
    "bonus_clawback_reversal",
    "grant_revocation",
)


def balance(conn: Connection, member_id: UUID, now: datetime) -> Balance:
    wallet = conn.execute(select(wallets).where(wallets.c.member_id == member_id)).first()
    if wallet is None:
        raise NotFound("wallet_not_found", "The member has no wallet.")
    expired = func.coalesce(
        func.sum(case((lots.c.expires_at <= now, lots.c.remaining), else_=0)), 0
    )
    soon = func.coalesce(
        func.sum(
            case(
                (
                    and_(lots.c.expires_at > now, lots.c.expires_at <= now + EXPIRING_SOON),
                    lots.c.remaining,
                ),
                else_=0,
            )
        ),
        0,
    )
    rows = conn.execute(
        select(lots.c.kind, expired, soon)
        .where(
            lots.c.member_id == member_id,
            lots.c.remaining > 0,
            lots.c.expires_at.isnot(None),
        )
        .group_by(lots.c.kind)
    ).all()
    unswept = {kind: int(e) for kind, e, _ in rows}
    return Balance(
        currency=wallet.currency,
        paid=wallet.paid - unswept.get("paid", 0),
        bonus=wallet.bonus - unswept.get("bonus", 0),
        held=wallet.held,
        expiring_soon=sum(int(s) for _, _, s in rows),
    )


@dataclass(frozen=True, slots=True)
class LotRecord:
    id: UUID
    kind: str
    source: str
    amount: int
    remaining: int
    refundable: bool
    expires_at: datetime | None
    reason: str | None
    created_at: datetime
    journal_id: UUID

    def status(self, now: datetime) -> str:
        if self.remaining == 0:
            return "expired" if self.expires_at and self.expires_at <= now else "used"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "open"


def member_lots(
    conn: Connection, member_id: UUID, *, include_empty: bool = False
) -> list[LotRecord]:
    query = select(
        lots.c.id,
        lots.c.kind,
        lots.c.source,
        lots.c.amount,
        lots.c.remaining,
        lots.c.refundable,
        lots.c.expires_at,
        lots.c.reason,
        lots.c.created_at,
        lots.c.journal_id,
    ).where(lots.c.member_id == member_id)
    if not include_empty:
        query = query.where(lots.c.remaining > 0)
    rows = conn.execute(query.order_by(lots.c.id)).all()
    return [LotRecord(**row._mapping) for row in rows]


def member_holds(conn: Connection, member_id: UUID, *, active_only: bool = True) -> list[HoldRow]:
    query = select(holds).where(holds.c.member_id == member_id)
    if active_only:
        query = query.where(holds.c.status == "active")
    return [HoldRow(**row._mapping) for row in conn.execute(query.order_by(holds.c.id))]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: UUID
    kind: str
    amount: int
    currency: str
    paid_change: int
    bonus_change: int
    held_change: int
    reference: str | None
    memo: str | None
    reason: str | None
    actor: str
    business_date: date
    reverses_id: UUID | None
    hold_id: UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    next_cursor: UUID | None


def history(
    conn: Connection,
    member_id: UUID,
    *,
    kinds: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    before: UUID | None = None,
    limit: int = 50,
) -> HistoryPage:
    """A member's journals, newest first, with the change to each of their cash accounts.

    Paginate by passing the page's ``next_cursor`` as ``before``.
    """
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise InvalidInput("invalid_limit", f"limit must be from 1 to {HISTORY_MAX_LIMIT}.")
    for kind in kinds or []:
        if kind not in JOURNAL_KINDS:
            raise InvalidInput("invalid_kind", f"kind must be among {JOURNAL_KINDS}.")
    change = {
        code: func.coalesce(
            func.sum(
                case(
                    (
                        postings.c.account_id == member_account_id(member_id, code),
                        postings.c.amount,
                    ),
                    else_=0,
                )
            ),
            0,
        ).label(code.replace("cash:", "") + "_change")
        for code in ("cash:paid", "cash:bonus", "cash:held")
    }
    query = (
        select(
            journals.c.id,
            journals.c.kind,
            journals.c.amount,
            journals.c.currency,
            change["cash:paid"],
            change["cash:bonus"],
            change["cash:held"],
            journals.c.reference,
            journals.c.memo,
            journals.c.reason,
            journals.c.actor,
            journals.c.business_date,
            journals.c.reverses_id,
            journals.c.hold_id,
            journals.c.created_at,
        )
        .select_from(journals.outerjoin(postings, postings.c.journal_id == journals.c.id))
        .where(journals.c.member_id == member_id)
        .group_by(journals.c.id)
        .order_by(journals.c.id.desc())
        .limit(limit + 1)
    )
    if kinds:
        query = query.where(journals.c.kind.in_(kinds))
    if date_from:
        query = query.where(journals.c.business_date >= date_from)
    if date_to:
        query = query.where(journals.c.business_date <= date_to)
    if before:
        query = query.where(journals.c.id < before)
    rows = conn.execute(query).all()
    entries = [HistoryEntry(**row._mapping) for row in rows[:limit]]
    return HistoryPage(entries, entries[-1].id if len(rows) > limit else None)


def journal_detail(conn: Connection, service_id: UUID, journal_id: UUID) -> dict[str, Any]:
    """One journal with its postings (account codes) and lot draws."""
    row = (
        conn.execute(
            select(journals).where(journals.c.id == journal_id, journals.c.service_id == service_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("journal_not_found", "No such transaction in this service.")
    posting_rows = conn.execute(
        select(accounts.c.code, accounts.c.member_id, postings.c.amount, postings.c.currency)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.journal_id == journal_id)
        .order_by(postings.c.id)
    ).mappings()
    draw_rows = conn.execute(
        select(lot_draws.c.lot_id, lots.c.kind, lot_draws.c.amount)
        .join(lots, lots.c.id == lot_draws.c.lot_id)
        .where(lot_draws.c.journal_id == journal_id)
        .order_by(lot_draws.c.id)
    ).mappings()
    reversed_by = conn.execute(
        select(journals.c.id).where(journals.c.reverses_id == journal_id)
    ).scalar_one_or_none()
    return {
        **dict(row),
        "postings": [dict(p) for p in posting_rows],
        "draws": [dict(d) for d in draw_rows],
        "reversed_by": reversed_by,
    }


#: Journals that move cash out of a charge's lot back to the PG (draws > 0) and their
#: reversals when the PG refused (draws < 0, see ``engine``).
_REFUND_KINDS = ("charge_refund", "charge_refund_reversal")


def paid_charges_by_member(
    conn: Connection,
    service_id: UUID,
    since: datetime,
    member_ids: Sequence[UUID] | None = None,
) -> dict[UUID, int]:
    """Per member, the paid cash charged at or after ``since``, net of its refunds.

    That is the amount of each paid lot with source ``charge`` created at/after ``since``, less
    what ``charge_refund`` journals drew from those lots, plus what ``charge_refund_reversal``
    journals put back (a refund the PG refused). Spending the cash does not lower it. Members
    without such lots are left out (their total is 0); ``member_ids`` narrows the members.
    """
    charged = [
        lots.c.service_id == service_id,
        lots.c.kind == "paid",
        lots.c.source == "charge",
        lots.c.created_at >= since,
    ]
    if member_ids is not None:
        if not member_ids:
            return {}
        charged.append(lots.c.member_id.in_(list(member_ids)))
    paid = conn.execute(
        select(lots.c.member_id, func.sum(lots.c.amount)).where(*charged).group_by(lots.c.member_id)
    ).all()
    refunded = conn.execute(
        select(lots.c.member_id, func.sum(lot_draws.c.amount))
        .select_from(
            lot_draws.join(lots, lots.c.id == lot_draws.c.lot_id).join(
                journals, journals.c.id == lot_draws.c.journal_id
            )
        )
        .where(*charged, journals.c.kind.in_(_REFUND_KINDS))
        .group_by(lots.c.member_id)
    ).all()
    totals = {member_id: int(total) for member_id, total in paid}
    for member_id, total in refunded:
        totals[member_id] -= int(total)
    return totals


def has_other_charge_lot(conn: Connection, member_id: UUID, lot_id: UUID) -> bool:
    """Whether the member has a paid ``charge`` lot other than ``lot_id`` (not a first charge).

    A refunded charge still counts: the member has charged before.
    """
    found = conn.execute(
        select(lots.c.id)
        .where(
            lots.c.member_id == member_id,
            lots.c.kind == "paid",
            lots.c.source == "charge",
            lots.c.id != lot_id,
        )
        .limit(1)
    ).first()
    return found is not None


def earlier_charge_lot(lot_id: ColumnElement[Any], member_id: ColumnElement[Any]) -> Exists:
    """SQL for "the member had a paid ``charge`` lot before lot ``lot_id``" (older, or as old
    with a smaller id), correlated to the caller's columns: a past charge's first-charge fact
    as :func:`has_other_charge_lot` saw it then."""
    mine, earlier = lots.alias("mine"), lots.alias("earlier")
    return exists().where(
        mine.c.id == lot_id,
        earlier.c.member_id == member_id,
        earlier.c.kind == "paid",
        earlier.c.source == "charge",
        earlier.c.id != mine.c.id,
        or_(
            earlier.c.created_at < mine.c.created_at,
            and_(earlier.c.created_at == mine.c.created_at, earlier.c.id < mine.c.id),
        ),
    )
