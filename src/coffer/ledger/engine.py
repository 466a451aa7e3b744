"""The write engine: the only code that moves money.

Every money movement is a :class:`JournalDraft` handed to :func:`post`, which writes the journal
and its postings (refusing any that do not sum to zero), applies the member wallet's change with a
guarded ``UPDATE`` derived from the member-account postings, and moves lots with guarded
updates and draw rows. Keeping it in one place lets it later batch many drafts per database
transaction (group commit) without touching callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection

from coffer.kernel.ids import uuid7
from coffer.ledger.accounts import MEMBER_ACCOUNTS, member_account_id, system_account_id
from coffer.ledger.model import Draw, WalletRef, business_date
from coffer.ledger.tables import journals, lot_draws, lots, postings, wallets


class LedgerIntegrityError(RuntimeError):
    """A guard refused a write that the service layer should never have asked for."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One posting: ``code`` names a member account (``cash:*``) or a system account."""

    code: str
    amount: int


@dataclass(frozen=True, slots=True)
class NewLot:
    kind: str
    source: str
    amount: int
    refundable: bool
    expires_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class JournalDraft:
    wallet: WalletRef
    kind: str
    amount: int
    actor: str
    entries: list[Entry]
    draws: list[Draw] = field(default_factory=list)
    restores: list[Draw] = field(default_factory=list)
    new_lot: NewLot | None = None
    reference: str | None = None
    memo: str | None = None
    reason: str | None = None
    reverses_id: UUID | None = None
    hold_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    journal_id: UUID
    lot_id: UUID | None


# Statements are built once with bind parameters: building them per call (and hashing the
# literal values into SQLAlchemy's cache key) cost more than executing them.
_insert_journal = insert(journals)
_insert_postings = insert(postings)
_insert_lot = insert(lots)
_insert_draws = insert(lot_draws)
_change_wallet = (
    update(wallets)
    .where(
        wallets.c.member_id == bindparam("member"),
        wallets.c.paid + bindparam("d_paid") >= 0,
        wallets.c.bonus + bindparam("d_bonus") >= 0,
        wallets.c.held + bindparam("d_held") >= 0,
    )
    .values(
        paid=wallets.c.paid + bindparam("d_paid"),
        bonus=wallets.c.bonus + bindparam("d_bonus"),
        held=wallets.c.held + bindparam("d_held"),
        updated_at=bindparam("now"),
    )
)


def post(conn: Connection, draft: JournalDraft, *, now: datetime) -> Posted:
    """Write one balanced journal and everything it moves, in the caller's transaction."""
    if sum(entry.amount for entry in draft.entries) != 0:
        raise LedgerIntegrityError(f"unbalanced journal {draft.kind}: {draft.entries}")
    wallet = draft.wallet
    journal_id = uuid7()
    conn.execute(
        _insert_journal,
        {
            "id": journal_id,
            "service_id": wallet.service_id,
            "member_id": wallet.member_id,
            "kind": draft.kind,
            "amount": draft.amount,
            "currency": wallet.currency,
            "reference": draft.reference,
            "memo": draft.memo,
            "reason": draft.reason,
            "actor": draft.actor,
            "business_date": business_date(now, wallet.timezone),
            "reverses_id": draft.reverses_id,
            "hold_id": draft.hold_id,
            "created_at": now,
        },
    )
    _write_postings(conn, journal_id, draft)
    _apply_wallet_change(conn, draft, now)
    lot_id = _create_lot(conn, journal_id, draft, now) if draft.new_lot else None
    _move_lots(conn, journal_id, draft)
    return Posted(journal_id, lot_id)


def _account_id(wallet: WalletRef, code: str) -> UUID:
    if code in MEMBER_ACCOUNTS:
        return member_account_id(wallet.member_id, code)
    return system_account_id(wallet.service_id, code)


def _write_postings(conn: Connection, journal_id: UUID, draft: JournalDraft) -> None:
    rows = [
        {
            "id": uuid7(),
            "journal_id": journal_id,
            "service_id": draft.wallet.service_id,
            "account_id": _account_id(draft.wallet, entry.code),
            "amount": entry.amount,
            "currency": draft.wallet.currency,
        }
        for entry in draft.entries
        if entry.amount != 0
    ]
    if rows:
        conn.execute(_insert_postings, rows)


def _apply_wallet_change(conn: Connection, draft: JournalDraft, now: datetime) -> None:
    delta = dict.fromkeys(MEMBER_ACCOUNTS, 0)
    for entry in draft.entries:
        if entry.code in delta:
            delta[entry.code] += entry.amount
    if not any(delta.values()):
        return
    result = conn.execute(
        _change_wallet,
        {
            "member": draft.wallet.member_id,
            "d_paid": delta["cash:paid"],
            "d_bonus": delta["cash:bonus"],
            "d_held": delta["cash:held"],
            "now": now,
        },
    )
    if result.rowcount != 1:
        raise LedgerIntegrityError(f"wallet guard refused {draft.kind} on {draft.wallet}")


def _create_lot(conn: Connection, journal_id: UUID, draft: JournalDraft, now: datetime) -> UUID:
    assert draft.new_lot is not None
    lot = draft.new_lot
    lot_id = uuid7()
    conn.execute(
        _insert_lot,
        {
            "id": lot_id,
            "service_id": draft.wallet.service_id,
            "member_id": draft.wallet.member_id,
            "kind": lot.kind,
            "source": lot.source,
            "amount": lot.amount,
            "remaining": lot.amount,
            "refundable": lot.refundable,
            "expires_at": lot.expires_at,
            "journal_id": journal_id,
            "reason": lot.reason,
            "created_at": now,
        },
    )
    return lot_id


_take = (
    update(lots)
    .where(
        lots.c.id == bindparam("lot"),
        lots.c.member_id == bindparam("member"),
        lots.c.remaining >= bindparam("qty"),
    )
    .values(remaining=lots.c.remaining - bindparam("qty"))
)
_give = (
    update(lots)
    .where(
        lots.c.id == bindparam("lot"),
        lots.c.member_id == bindparam("member"),
        lots.c.remaining + bindparam("qty") <= lots.c.amount,
    )
    .values(remaining=lots.c.remaining + bindparam("qty"))
)


def _move_lots(conn: Connection, journal_id: UUID, draft: JournalDraft) -> None:
    member = draft.wallet.member_id
    for statement, moves in ((_take, draft.draws), (_give, draft.restores)):
        for move in moves:
            result = conn.execute(
                statement, {"lot": move.lot_id, "member": member, "qty": move.amount}
            )
            if result.rowcount != 1:
                raise LedgerIntegrityError(f"lot guard refused {draft.kind} on {move.lot_id}")
    rows = [
        {"id": uuid7(), "journal_id": journal_id, "lot_id": d.lot_id, "amount": d.amount}
        for d in draft.draws
    ] + [
        {"id": uuid7(), "journal_id": journal_id, "lot_id": r.lot_id, "amount": -r.amount}
        for r in draft.restores
    ]
    if rows:
        conn.execute(_insert_draws, rows)
