"""Read-only figures over a service's journals for the admin screens (dashboard, member lists).

Figures are by **business date** (the service's calendar day a journal was posted on) and come
straight from postings, so they always agree with the ledger:

- *granted paid / bonus*: what ``grant`` journals credited to members' paid / bonus cash;
- *spent*: what spends and hold commits moved to ``sales_revenue``; *reversed*: what spend
  reversals took back from it (shown apart, so a day's spending is never silently netted);
- *expired*: what ``expiry`` journals moved to ``breakage``;
- *refunded*: charge refunds taken back to ``pg_receivable``, net of refunds the PG refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Connection

from coffer.kernel.errors import InvalidInput
from coffer.ledger.tables import accounts, journals, lots, postings, wallets

#: Longest range of days :func:`daily_figures` answers for.
MAX_DAYS = 366

#: (journal kind, account code) -> the figure its postings add to (with that sign).
_FIGURES: dict[tuple[str, str], tuple[str, int]] = {
    ("grant", "cash:paid"): ("granted_paid", 1),
    ("grant", "cash:bonus"): ("granted_bonus", 1),
    ("spend", "sales_revenue"): ("spent", 1),
    ("hold_commit", "sales_revenue"): ("spent", 1),
    ("spend_reversal", "sales_revenue"): ("reversed", -1),
    ("expiry", "breakage"): ("expired", 1),
    ("charge_refund", "pg_receivable"): ("refunded", 1),
    ("charge_refund_reversal", "pg_receivable"): ("refunded", -1),
    # Granted cash taken back (postings out of the member's cash are negative): less granted.
    ("grant_revocation", "cash:paid"): ("granted_paid", 1),
    ("grant_revocation", "cash:bonus"): ("granted_bonus", 1),
    ("bonus_clawback", "cash:bonus"): ("granted_bonus", 1),
    ("bonus_clawback_reversal", "cash:bonus"): ("granted_bonus", 1),
}


@dataclass(frozen=True, slots=True)
class DayFigures:
    business_date: date
    granted_paid: int = 0
    granted_bonus: int = 0
    spent: int = 0
    reversed: int = 0
    expired: int = 0
    refunded: int = 0

    @property
    def granted(self) -> int:
        return self.granted_paid + self.granted_bonus


def daily_figures(
    conn: Connection, service_id: UUID, date_from: date, date_to: date
) -> list[DayFigures]:
    """One :class:`DayFigures` per business date from ``date_from`` to ``date_to`` inclusive."""
    days = (date_to - date_from).days + 1
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput("invalid_date_range", f"A range of 1 to {MAX_DAYS} days is needed.")
    kinds = sorted({kind for kind, _ in _FIGURES})
    codes = sorted({code for _, code in _FIGURES})
    rows = conn.execute(
        select(
            journals.c.business_date,
            journals.c.kind,
            accounts.c.code,
            func.sum(postings.c.amount),
        )
        .select_from(
            journals.join(postings, postings.c.journal_id == journals.c.id).join(
                accounts, accounts.c.id == postings.c.account_id
            )
        )
        .where(
            journals.c.service_id == service_id,
            journals.c.business_date >= date_from,
            journals.c.business_date <= date_to,
            journals.c.kind.in_(kinds),
            accounts.c.code.in_(codes),
        )
        .group_by(journals.c.business_date, journals.c.kind, accounts.c.code)
    ).all()
    totals: dict[date, dict[str, int]] = {}
    for day, kind, code, amount in rows:
        figure = _FIGURES.get((kind, code))
        if figure is None:
            continue
        name, sign = figure
        per_day = totals.setdefault(day, {})
        per_day[name] = per_day.get(name, 0) + sign * int(amount)
    return [
        DayFigures(day, **totals.get(day, {}))
        for day in (date_from + timedelta(days=offset) for offset in range(days))
    ]


def members_with_cash(conn: Connection, service_id: UUID, now: datetime) -> int:
    """Members holding cash they can still use or have reserved (expired cash left out)."""
    live_lot = exists().where(
        lots.c.member_id == wallets.c.member_id,
        lots.c.remaining > 0,
        or_(lots.c.expires_at.is_(None), lots.c.expires_at > now),
    )
    found = conn.execute(
        select(func.count())
        .select_from(wallets)
        .where(wallets.c.service_id == service_id, or_(wallets.c.held > 0, live_lot))
    ).scalar_one()
    return int(found)


@dataclass(frozen=True, slots=True)
class WalletSummary:
    paid: int
    bonus: int
    held: int


def wallet_summaries(conn: Connection, member_ids: Iterable[UUID]) -> dict[UUID, WalletSummary]:
    """The wallet columns of many members in one query, for lists.

    Cash whose expiry has passed but that the expiry job has not swept yet still counts here;
    a member's own page (``queries.balance``) shows the exact balance.
    """
    wanted = list(member_ids)
    if not wanted:
        return {}
    rows = conn.execute(
        select(wallets.c.member_id, wallets.c.paid, wallets.c.bonus, wallets.c.held).where(
            wallets.c.member_id.in_(wanted)
        )
    ).all()
    return {row[0]: WalletSummary(int(row[1]), int(row[2]), int(row[3])) for row in rows}


def reversed_journals(conn: Connection, journal_ids: Iterable[UUID]) -> set[UUID]:
    """Which of ``journal_ids`` a later journal reverses (to mark them on history lists)."""
    wanted = list(journal_ids)
    if not wanted:
        return set()
    rows = conn.execute(
        select(journals.c.reverses_id).where(journals.c.reverses_id.in_(wanted))
    ).scalars()
    return {row for row in rows if row is not None}
