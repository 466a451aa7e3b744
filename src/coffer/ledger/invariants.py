"""The ledger's invariants, checked by the tests after every step and by the audit job.

Each check is one query that returns the rows breaking the rule, so a healthy ledger costs a
few aggregate scans and a broken one names exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.engine import Connection

from coffer.ledger.tables import accounts, holds, journals, lot_draws, lots, postings, wallets


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str


def _unbalanced_journals() -> Select[tuple[UUID, str, int]]:
    total = func.sum(postings.c.amount)
    return (
        select(postings.c.journal_id, postings.c.currency, total)
        .group_by(postings.c.journal_id, postings.c.currency)
        .having(total != 0)
    )


def _journals_without_postings() -> Select[tuple[UUID, str, int]]:
    return (
        select(journals.c.id, journals.c.kind, journals.c.amount)
        .outerjoin(postings, postings.c.journal_id == journals.c.id)
        .where(postings.c.id.is_(None), journals.c.amount != 0)
    )


def _member_postings(code: str) -> Select[tuple[UUID, int]]:
    return (
        select(accounts.c.member_id, func.coalesce(func.sum(postings.c.amount), 0).label("total"))
        .select_from(accounts.outerjoin(postings, postings.c.account_id == accounts.c.id))
        .where(accounts.c.code == code, accounts.c.member_id.isnot(None))
        .group_by(accounts.c.member_id)
    )


def _wallets_off_postings(column: str, code: str) -> Select[tuple[UUID, int, int]]:
    sums = _member_postings(code).subquery()
    return (
        select(wallets.c.member_id, wallets.c[column], sums.c.total)
        .outerjoin(sums, sums.c.member_id == wallets.c.member_id)
        .where(wallets.c[column] != func.coalesce(sums.c.total, 0))
    )


def _wallets_off_lots(kind: str) -> Select[tuple[UUID, int, int]]:
    sums = (
        select(lots.c.member_id, func.sum(lots.c.remaining).label("total"))
        .where(lots.c.kind == kind)
        .group_by(lots.c.member_id)
        .subquery()
    )
    return (
        select(wallets.c.member_id, wallets.c[kind], sums.c.total)
        .outerjoin(sums, sums.c.member_id == wallets.c.member_id)
        .where(wallets.c[kind] != func.coalesce(sums.c.total, 0))
    )


def _wallets_off_holds() -> Select[tuple[UUID, int, int]]:
    sums = (
        select(holds.c.member_id, func.sum(holds.c.amount).label("total"))
        .where(holds.c.status == "active")
        .group_by(holds.c.member_id)
        .subquery()
    )
    return (
        select(wallets.c.member_id, wallets.c.held, sums.c.total)
        .outerjoin(sums, sums.c.member_id == wallets.c.member_id)
        .where(wallets.c.held != func.coalesce(sums.c.total, 0))
    )


def _lots_off_draws() -> Select[tuple[UUID, int, int]]:
    drawn = (
        select(lot_draws.c.lot_id, func.sum(lot_draws.c.amount).label("total"))
        .group_by(lot_draws.c.lot_id)
        .subquery()
    )
    return (
        select(lots.c.id, lots.c.remaining, lots.c.amount - func.coalesce(drawn.c.total, 0))
        .outerjoin(drawn, drawn.c.lot_id == lots.c.id)
        .where(lots.c.remaining != lots.c.amount - func.coalesce(drawn.c.total, 0))
    )


def _negative_wallets() -> Select[tuple[UUID, int, int]]:
    return select(wallets.c.member_id, wallets.c.paid, wallets.c.bonus).where(
        or_(wallets.c.paid < 0, wallets.c.bonus < 0, wallets.c.held < 0)
    )


def _double_reversals() -> Select[tuple[UUID, str, int]]:
    return (
        select(journals.c.reverses_id, literal("reversals"), func.count())
        .where(journals.c.reverses_id.isnot(None))
        .group_by(journals.c.reverses_id)
        .having(func.count() > 1)
    )


def _holds_off_reserves() -> Select[tuple[UUID, int, int]]:
    reserved = (
        select(journals.c.hold_id, func.sum(lot_draws.c.amount).label("total"))
        .join(lot_draws, lot_draws.c.journal_id == journals.c.id)
        .where(journals.c.kind == "hold")
        .group_by(journals.c.hold_id)
        .subquery()
    )
    return (
        select(holds.c.id, holds.c.amount, reserved.c.total)
        .outerjoin(reserved, reserved.c.hold_id == holds.c.id)
        .where(and_(holds.c.amount != func.coalesce(reserved.c.total, 0)))
    )


CHECKS: dict[str, tuple[str, Callable[[], Select[tuple[UUID, object, object]]]]] = {
    "postings_balance": ("journal {0} postings in {1} sum to {2}", _unbalanced_journals),
    "journal_has_postings": ("journal {0} ({1}, {2}) has no postings", _journals_without_postings),
    "wallet_paid_matches_postings": (
        "wallet {0}: paid {1} but postings sum to {2}",
        lambda: _wallets_off_postings("paid", "cash:paid"),
    ),
    "wallet_bonus_matches_postings": (
        "wallet {0}: bonus {1} but postings sum to {2}",
        lambda: _wallets_off_postings("bonus", "cash:bonus"),
    ),
    "wallet_held_matches_postings": (
        "wallet {0}: held {1} but postings sum to {2}",
        lambda: _wallets_off_postings("held", "cash:held"),
    ),
    "wallet_paid_matches_lots": (
        "wallet {0}: paid {1} but paid lots hold {2}",
        lambda: _wallets_off_lots("paid"),
    ),
    "wallet_bonus_matches_lots": (
        "wallet {0}: bonus {1} but bonus lots hold {2}",
        lambda: _wallets_off_lots("bonus"),
    ),
    "wallet_held_matches_holds": (
        "wallet {0}: held {1} but active holds total {2}",
        _wallets_off_holds,
    ),
    "lot_remaining_matches_draws": ("lot {0}: remaining {1} but draws leave {2}", _lots_off_draws),
    "hold_matches_reserve": ("hold {0}: amount {1} but its reserve drew {2}", _holds_off_reserves),
    "wallet_not_negative": ("wallet {0} is negative: paid {1}, bonus {2}", _negative_wallets),
    "reversed_once": ("journal {0} has {2} {1}", _double_reversals),
}


def check_all(conn: Connection) -> list[Violation]:
    """Every violation of every invariant; an empty list means the ledger is sound."""
    found: list[Violation] = []
    for rule, (template, query) in CHECKS.items():
        for row in conn.execute(query().limit(100)):
            found.append(Violation(rule, template.format(*row)))
    return found
