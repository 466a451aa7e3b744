"""Ledger use cases: grant, spend, reverse, holds, expiry. Each runs in the caller's transaction.

Every operation on a member first takes the wallet lock, then sweeps the member's expired lots to
breakage (so a balance is never spent from expired cash), then plans its draws with the pure rules
in ``model`` and hands one journal to the write engine. Each queues its webhook event in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.engine import Connection

from coffer.db.outbox import emit_event
from coffer.db.transaction import Database
from coffer.kernel.clock import Clock
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.ledger import store
from coffer.ledger.accounts import grant_funding_account
from coffer.ledger.engine import Entry, JournalDraft, NewLot, post
from coffer.ledger.model import (
    CASH_KINDS,
    Draw,
    LotView,
    WalletRef,
    allocate,
    by_kind,
    is_spendable,
    split_commit,
)
from coffer.ledger.tables import LOT_SOURCES, holds

#: Longest a hold may last.
MAX_HOLD_SECONDS = 7 * 24 * 3600

#: Journal kinds an operator or a service may reverse (refunds are reversed only by payments).
REVERSIBLE_KINDS = ("spend",)

#: Finds the wallet of a member for jobs that start from a row (holds, lots) rather than a
#: request: supplied by the composition root, which knows services and members.
WalletResolver = Callable[[Connection, UUID, UUID], WalletRef]


@dataclass(frozen=True, slots=True)
class GrantResult:
    journal_id: UUID
    lot_id: UUID
    amount: int
    kind: str


@dataclass(frozen=True, slots=True)
class SpendResult:
    journal_id: UUID
    amount: int
    draws: list[Draw]


@dataclass(frozen=True, slots=True)
class HoldResult:
    hold: store.HoldRow
    journal_id: UUID


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"missing_{field}", f"{field} is required.")
        return None
    if (
        not isinstance(value, str)
        or len(value) > limit
        or not is_storable_text(value, multiline=True)
    ):
        raise InvalidInput(f"invalid_{field}", f"{field} must be text of at most {limit} chars.")
    return value


def _out_of_cash(draws: list[Draw], to: str) -> list[Entry]:
    """Entries moving the drawn cash out of the member's paid and bonus accounts into ``to``."""
    kinds = by_kind(draws)
    return [
        Entry("cash:bonus", -kinds["bonus"]),
        Entry("cash:paid", -kinds["paid"]),
        Entry(to, sum(kinds.values())),
    ]


def _into_cash(draws: list[Draw], source: str) -> list[Entry]:
    """Entries putting cash back into the member's paid and bonus accounts from ``source``."""
    return [Entry(entry.code, -entry.amount) for entry in _out_of_cash(draws, source)]


def _emit(
    conn: Connection,
    wallet: WalletRef,
    event_type: str,
    external_id: str | None,
    now: datetime,
    **data: object,
) -> None:
    """Queue a webhook event about this member, in the caller's transaction."""
    emit_event(
        conn,
        wallet.service_id,
        event_type,
        _event_data(wallet, external_id, currency=wallet.currency, **data),
        now=now,
    )


def _event_data(
    wallet: WalletRef, member_external_id: str | None, **data: object
) -> dict[str, object]:
    return {"member_id": str(wallet.member_id), "external_id": member_external_id, **data}


def grant(
    conn: Connection,
    wallet: WalletRef,
    *,
    amount: int,
    kind: str,
    source: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
    expires_at: datetime | None = None,
    refundable: bool | None = None,
    external_id: str | None = None,
) -> GrantResult:
    """Credit member cash of ``kind`` as a new lot, funded by the source's system account."""
    parse_amount(amount)
    if kind not in CASH_KINDS:
        raise InvalidInput("invalid_cash_kind", f"cash_kind must be one of {CASH_KINDS}.")
    if source not in LOT_SOURCES:
        raise InvalidInput("invalid_source", f"source must be one of {LOT_SOURCES}.")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("invalid_expiry", "expires_at must be in the future.")
    reason = _text(reason, "reason", 500, required=source == "admin")
    _begin(conn, wallet, now, external_id)
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet,
            kind="grant",
            amount=amount,
            actor=actor,
            reason=reason,
            entries=[Entry(f"cash:{kind}", amount), Entry(grant_funding_account(source), -amount)],
            new_lot=NewLot(
                kind=kind,
                source=source,
                amount=amount,
                refundable=(kind == "paid" and source == "charge")
                if refundable is None
                else refundable,
                expires_at=expires_at,
                reason=reason,
            ),
        ),
        now=now,
    )
    assert posted.lot_id is not None
    _emit(
        conn, wallet, "cash.granted", external_id, now,
        journal_id=str(posted.journal_id), amount=amount, cash_kind=kind, source=source,
        expires_at=expires_at.isoformat() if expires_at else None,
    )  # fmt: skip
    return GrantResult(posted.journal_id, posted.lot_id, amount, kind)


def spend(
    conn: Connection,
    wallet: WalletRef,
    *,
    amount: int,
    reference: str,
    actor: str,
    now: datetime,
    memo: str | None = None,
    external_id: str | None = None,
) -> SpendResult:
    """Debit cash in the service's consumption order, or refuse with ``insufficient_funds``."""
    parse_amount(amount)
    reference_text = _text(reference, "reference", 200, required=True)
    memo = _text(memo, "memo", 500)
    live = _begin(conn, wallet, now, external_id)
    draws = allocate(live, amount, order=wallet.consumption_order, now=now)
    return _draw_out(
        conn, wallet, draws, kind="spend", to="sales_revenue", event="cash.spent", actor=actor,
        now=now, external_id=external_id, reference=reference_text, memo=memo,
        event_data=by_kind(draws),
    )  # fmt: skip


def _draw_out(
    conn: Connection,
    wallet: WalletRef,
    draws: list[Draw],
    *,
    kind: str,
    to: str,
    event: str,
    actor: str,
    now: datetime,
    external_id: str | None,
    reference: str | None,
    memo: str | None = None,
    reason: str | None = None,
    event_data: Mapping[str, object] | None = None,
) -> SpendResult:
    """Post one journal moving ``draws`` out of the member's cash into ``to``, and its event."""
    amount = sum(draw.amount for draw in draws)
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet, kind=kind, amount=amount, actor=actor, reference=reference,
            memo=memo, reason=reason, entries=_out_of_cash(draws, to), draws=draws,
        ),
        now=now,
    )  # fmt: skip
    _emit(
        conn, wallet, event, external_id, now,
        journal_id=str(posted.journal_id), amount=amount, reference=reference,
        **(event_data or {}),
    )  # fmt: skip
    return SpendResult(posted.journal_id, amount, draws)


def reverse_spend(
    conn: Connection,
    wallet: WalletRef,
    journal_id: UUID,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> SpendResult:
    """Put a spend's cash back into the exact lots it drew from (see ``model`` for expiry)."""
    return _reverse(conn, wallet, journal_id, "spend", actor=actor, now=now,
                    reason=reason, external_id=external_id)  # fmt: skip


def withdraw_charge(
    conn: Connection,
    wallet: WalletRef,
    lot_id: UUID,
    *,
    amount: int,
    reference: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> SpendResult:
    """Take ``amount`` of a charge's own paid lot back to ``pg_receivable`` (a refund).

    Only the unspent part of that lot can go (``refund_exceeds_unspent``); the PG cancel follows.
    """
    parse_amount(amount)
    reason = _text(reason, "reason", 500)
    live = _begin(conn, wallet, now, external_id)
    lot = next((lot for lot in live if lot.id == lot_id), None)
    if lot is None or lot.kind != "paid" or lot.remaining < amount:
        raise Conflict(
            "refund_exceeds_unspent",
            f"Only {lot.remaining if lot else 0} of this charge is unspent and can be refunded.",
        )
    return _draw_out(
        conn, wallet, [Draw(lot_id, "paid", amount)], kind="charge_refund", to="pg_receivable",
        event="cash.refunded", actor=actor, now=now, external_id=external_id,
        reference=reference, reason=reason,
    )  # fmt: skip


def reverse_charge_withdrawal(
    conn: Connection,
    wallet: WalletRef,
    journal_id: UUID,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> SpendResult:
    """Put a refund's cash back into the charge's lot (the PG refused the cancel)."""
    return _reverse(conn, wallet, journal_id, "charge_refund", actor=actor, now=now,
                    reason=reason, external_id=external_id)  # fmt: skip


#: Reversible journal kinds: the kind of their reversal, the account the cash came back from
#: (None: the account that funded the drawn lot) and the webhook event announcing it.
_REVERSALS: dict[str, tuple[str, str | None, str]] = {
    "spend": ("spend_reversal", "sales_revenue", "cash.spend_reversed"),
    "charge_refund": ("charge_refund_reversal", "pg_receivable", "cash.refund_reversed"),
    "bonus_clawback": ("bonus_clawback_reversal", None, "cash.bonus_clawback_reversed"),
}


def _funding_of(conn: Connection, wallet: WalletRef, lot_id: UUID) -> str:
    """The system account that funded a lot's grant (``grants:<source>``)."""
    lot = store.granted_lot(conn, wallet.member_id, lot_id)
    assert lot is not None
    return grant_funding_account(lot.source)


def _reverse(
    conn: Connection,
    wallet: WalletRef,
    journal_id: UUID,
    expected_kind: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None,
    external_id: str | None,
) -> SpendResult:
    reason = _text(reason, "reason", 500)
    store.lock_wallet(conn, wallet.member_id)
    original = store.find_journal(conn, wallet.service_id, journal_id)
    if original["kind"] != expected_kind or original["member_id"] != wallet.member_id:
        raise Conflict("not_reversible", f"Only a {expected_kind} can be reversed here.")
    if store.reversal_of(conn, journal_id) is not None:
        raise Conflict("already_reversed", f"This {expected_kind} has already been reversed.")
    kind, account, event = _REVERSALS[expected_kind]
    draws = store.journal_draws(conn, journal_id)
    source = account if account is not None else _funding_of(conn, wallet, draws[0].lot_id)
    amount = sum(draw.amount for draw in draws)
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet,
            kind=kind,
            amount=amount,
            actor=actor,
            reason=reason,
            reference=str(original["reference"]) if original["reference"] else None,
            reverses_id=journal_id,
            entries=_into_cash(draws, source),
            restores=draws,
        ),
        now=now,
    )
    _emit(
        conn, wallet, event, external_id, now,
        journal_id=str(posted.journal_id), reverses=str(journal_id), amount=amount,
    )  # fmt: skip
    _sweep_expired(conn, wallet, actor="system:expiry", now=now, external_id=external_id)
    return SpendResult(posted.journal_id, amount, draws)


# --- holds ----------------------------------------------------------------------------------


def reserve(
    conn: Connection,
    wallet: WalletRef,
    *,
    amount: int,
    expires_in_seconds: int,
    reference: str | None,
    actor: str,
    now: datetime,
    external_id: str | None = None,
) -> HoldResult:
    """Reserve cash: draw it from lots into ``cash:held`` until commit, release or expiry."""
    parse_amount(amount)
    if (
        isinstance(expires_in_seconds, bool)
        or not isinstance(expires_in_seconds, int)
        or not 1 <= expires_in_seconds <= MAX_HOLD_SECONDS
    ):
        raise InvalidInput(
            "invalid_expires_in_seconds",
            f"expires_in_seconds must be an integer from 1 to {MAX_HOLD_SECONDS}.",
        )
    reference = _text(reference, "reference", 200)
    live = _begin(conn, wallet, now, external_id)
    draws = allocate(live, amount, order=wallet.consumption_order, now=now)
    hold_id = uuid7()
    conn.execute(
        holds.insert().values(
            id=hold_id,
            service_id=wallet.service_id,
            member_id=wallet.member_id,
            amount=amount,
            committed=0,
            status="active",
            reference=reference,
            expires_at=now + timedelta(seconds=expires_in_seconds),
            created_at=now,
        )
    )
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet,
            kind="hold",
            amount=amount,
            actor=actor,
            reference=reference,
            hold_id=hold_id,
            entries=_out_of_cash(draws, "cash:held"),
            draws=draws,
        ),
        now=now,
    )
    return HoldResult(store.get_hold(conn, wallet.service_id, hold_id), posted.journal_id)


def commit_hold(
    conn: Connection,
    wallet: WalletRef,
    hold_id: UUID,
    *,
    actor: str,
    now: datetime,
    amount: int | None = None,
    external_id: str | None = None,
) -> HoldResult:
    """Spend all or part of a hold; the rest goes back to the lots it came from."""
    store.lock_wallet(conn, wallet.member_id)
    hold = _active_hold(conn, wallet, hold_id, now)
    commit = hold.amount if amount is None else parse_amount(amount, allow_zero=True)
    if commit > hold.amount:
        raise InvalidInput(
            "amount_exceeds_hold",
            f"Cannot commit {commit}: the hold is for {hold.amount}.",
            {"hold_amount": hold.amount},
        )
    return _close_hold(conn, wallet, hold, commit, "committed", actor, now, external_id)


def release_hold(
    conn: Connection,
    wallet: WalletRef,
    hold_id: UUID,
    *,
    actor: str,
    now: datetime,
    external_id: str | None = None,
) -> HoldResult:
    store.lock_wallet(conn, wallet.member_id)
    hold = _active_hold(conn, wallet, hold_id, now)
    return _close_hold(conn, wallet, hold, 0, "released", actor, now, external_id)


def _active_hold(
    conn: Connection, wallet: WalletRef, hold_id: UUID, now: datetime
) -> store.HoldRow:
    hold = store.get_hold(conn, wallet.service_id, hold_id)
    if hold.member_id != wallet.member_id:
        raise InvalidInput("hold_member_mismatch", "The hold belongs to another member.")
    if hold.status != "active":
        raise Conflict(f"hold_{hold.status}", f"The hold is already {hold.status}.")
    if hold.expires_at <= now:
        raise Conflict("hold_expired", "The hold has expired.")
    return hold


def _close_hold(
    conn: Connection,
    wallet: WalletRef,
    hold: store.HoldRow,
    commit: int,
    status: str,
    actor: str,
    now: datetime,
    external_id: str | None,
) -> HoldResult:
    draws = store.journal_draws(conn, store.reserve_journal_id(conn, hold.id))
    _kept, returned = split_commit(draws, commit)
    back = by_kind(returned)
    kind = {"committed": "hold_commit", "released": "hold_release", "expired": "hold_expiry"}
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet,
            kind=kind[status],
            amount=commit if status == "committed" else hold.amount,
            actor=actor,
            reference=hold.reference,
            hold_id=hold.id,
            entries=[
                Entry("cash:held", -hold.amount),
                Entry("sales_revenue", commit),
                Entry("cash:bonus", back["bonus"]),
                Entry("cash:paid", back["paid"]),
            ],
            restores=returned,
        ),
        now=now,
    )
    conn.execute(
        update(holds)
        .where(holds.c.id == hold.id, holds.c.status == "active")
        .values(status=status, committed=commit, closed_at=now)
    )
    if commit:
        _emit(
            conn, wallet, "cash.spent", external_id, now,
            journal_id=str(posted.journal_id), hold_id=str(hold.id), amount=commit,
            reference=hold.reference,
        )  # fmt: skip
    if status == "expired":
        _emit(
            conn, wallet, "hold.expired", external_id, now,
            hold_id=str(hold.id), amount=hold.amount, reference=hold.reference,
        )  # fmt: skip
    _sweep_expired(conn, wallet, actor="system:expiry", now=now, external_id=external_id)
    return HoldResult(store.get_hold(conn, wallet.service_id, hold.id), posted.journal_id)


# --- expiry ---------------------------------------------------------------------------------


def _begin(
    conn: Connection, wallet: WalletRef, now: datetime, external_id: str | None
) -> list[LotView]:
    """Lock the wallet, sweep its expired cash, and return the lots still spendable."""
    store.lock_wallet(conn, wallet.member_id)
    open_lots = store.open_lots(conn, wallet.member_id)
    live = [lot for lot in open_lots if is_spendable(lot, now)]
    due = [Draw(lot.id, lot.kind, lot.remaining) for lot in open_lots if not is_spendable(lot, now)]
    if due:
        _sweep_expired(
            conn, wallet, actor="system:expiry", now=now, external_id=external_id, due=due
        )
    return live


def _sweep_expired(
    conn: Connection,
    wallet: WalletRef,
    *,
    actor: str,
    now: datetime,
    external_id: str | None,
    due: list[Draw] | None = None,
) -> UUID | None:
    """Move the member's expired cash to breakage in one journal; None when nothing is due."""
    if due is None:
        due = store.due_lots(conn, wallet.member_id, now)
    if not due:
        return None
    amount = sum(draw.amount for draw in due)
    posted = post(
        conn,
        JournalDraft(
            wallet=wallet,
            kind="expiry",
            amount=amount,
            actor=actor,
            entries=_out_of_cash(due, "breakage"),
            draws=due,
        ),
        now=now,
    )
    _emit(
        conn, wallet, "cash.expired", external_id, now,
        journal_id=str(posted.journal_id), amount=amount, **by_kind(due),
    )  # fmt: skip
    return posted.journal_id


def expire_lots(db: Database, clock: Clock, resolve: WalletResolver, *, limit: int = 500) -> int:
    """Sweep expired cash to breakage, one member per transaction; returns members swept."""
    now = clock.now()
    due = db.read(lambda conn: store.members_with_due_lots(conn, now, limit))
    swept = 0
    for service_id, member_id in due:

        def sweep(conn: Connection, s: UUID = service_id, m: UUID = member_id) -> bool:
            wallet = resolve(conn, s, m)
            store.lock_wallet(conn, m)
            return (
                _sweep_expired(conn, wallet, actor="system:expiry", now=now, external_id=None)
                is not None
            )

        swept += db.write(sweep)
    return swept


def expire_holds(db: Database, clock: Clock, resolve: WalletResolver, *, limit: int = 500) -> int:
    """Release holds past their expiry (status ``expired``), one per transaction."""
    now = clock.now()
    due = db.read(lambda conn: store.due_holds(conn, now, limit))
    expired = 0
    for service_id, member_id, hold_id in due:

        def expire(
            conn: Connection, s: UUID = service_id, m: UUID = member_id, h: UUID = hold_id
        ) -> bool:
            wallet = resolve(conn, s, m)
            store.lock_wallet(conn, m)
            hold = store.get_hold(conn, s, h)
            if hold.status != "active":
                return False
            _close_hold(conn, wallet, hold, 0, "expired", "system:hold-expiry", now, None)
            return True

        expired += db.write(expire)
    return expired
