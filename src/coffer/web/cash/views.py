"""What the cash pages show, read from the ledger: balance, expiring cash, history rows, lots.

History rows get a *category* a member understands (charge, bonus, use, refund, …); the
templates turn categories into words. A grant's category comes from the source of the lot it
created (a charge through a PG, an event, a coupon, customer support, the service's API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from coffer.ledger import queries
from coffer.ledger.model import Balance
from coffer.ledger.queries import HistoryEntry, LotRecord
from coffer.ledger.store import HoldRow

PAGE_SIZE = 20

#: History filters: what a member picks -> journal kinds (None: every kind).
FILTERS: dict[str, list[str] | None] = {
    "all": None,
    "in": ["grant"],
    "out": ["spend", "hold_commit", "charge_refund", "bonus_clawback", "grant_revocation"],
    "refunds": ["spend_reversal", "charge_refund_reversal", "bonus_clawback_reversal"],
}

_GRANT_CATEGORIES = {
    "charge": "charge",
    "event": "event",
    "coupon": "coupon",
    "admin": "support",
    "api": "service",
}
_CATEGORIES = {
    "spend": "use",
    "hold_commit": "use",
    "spend_reversal": "refund",
    "hold": "reserve",
    "hold_release": "release",
    "hold_expiry": "release",
    "expiry": "expiry",
    "charge_refund": "charge_refund",
    "charge_refund_reversal": "refund",
    "bonus_clawback": "clawback",
    "bonus_clawback_reversal": "clawback_returned",
    "grant_revocation": "revoked",
}


@dataclass(frozen=True, slots=True)
class Overview:
    balance: Balance
    expiring: list[LotRecord]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    entry: HistoryEntry
    category: str
    #: The change to the member's cash (paid + bonus + held); 0 for a reservation.
    change: int
    #: The lot a grant created: its kind and expiry.
    lot: LotRecord | None


@dataclass(frozen=True, slots=True)
class HistoryView:
    rows: list[HistoryRow]
    next_cursor: UUID | None
    show: str
    first_page: bool


def overview(conn: Connection, member_id: UUID, now: datetime) -> Overview:
    soon = now + queries.EXPIRING_SOON
    expiring = [
        lot
        for lot in queries.member_lots(conn, member_id)
        if lot.expires_at is not None and now < lot.expires_at <= soon
    ]
    expiring.sort(key=lambda lot: (lot.expires_at or now, lot.id))
    return Overview(queries.balance(conn, member_id, now), expiring)


def history(conn: Connection, member_id: UUID, *, show: str, before: UUID | None) -> HistoryView:
    page = queries.history(conn, member_id, kinds=FILTERS[show], before=before, limit=PAGE_SIZE)
    grants = {e.id for e in page.entries if e.kind == "grant"}
    lots = (
        {lot.journal_id: lot for lot in queries.member_lots(conn, member_id, include_empty=True)}
        if grants
        else {}
    )
    rows = [_row(entry, lots.get(entry.id)) for entry in page.entries]
    return HistoryView(rows, page.next_cursor, show, before is None)


def _row(entry: HistoryEntry, lot: LotRecord | None) -> HistoryRow:
    if entry.kind == "grant":
        category = _GRANT_CATEGORIES.get(lot.source if lot else "", "received")
    else:
        category = _CATEGORIES.get(entry.kind, "other")
    change = entry.paid_change + entry.bonus_change + entry.held_change
    return HistoryRow(entry, category, change, lot)


@dataclass(frozen=True, slots=True)
class LotLine:
    lot: LotRecord
    #: Calendar days from today to the expiry date, in the service's time zone (None: never).
    days_left: int | None


@dataclass(frozen=True, slots=True)
class MyCash:
    lots: list[LotLine]
    holds: list[HoldRow]


def days_until(moment: datetime, now: datetime, timezone: str) -> int:
    zone = ZoneInfo(timezone)
    return (moment.astimezone(zone).date() - now.astimezone(zone).date()).days


def my_cash(conn: Connection, member_id: UUID, now: datetime, timezone: str) -> MyCash:
    """Open lots, soonest expiry first (never-expiring last), and the active reservations."""
    lots = [lot for lot in queries.member_lots(conn, member_id) if lot.status(now) == "open"]
    lots.sort(key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.id))
    lines = [
        LotLine(lot, days_until(lot.expires_at, now, timezone) if lot.expires_at else None)
        for lot in lots
    ]
    return MyCash(lines, queries.member_holds(conn, member_id, active_only=True))
