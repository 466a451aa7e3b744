"""Taking granted cash back to the account that funded it (``grants:<source>``).

Two cases, one mechanism (the wallet lock and expiry sweep of every ledger operation, then one
journal drawing from one lot):

- :func:`claw_back`: part of an event's bonus lot, when the charge that earned it is refunded
  (journal ``bonus_clawback``; reversed by :func:`reverse_claw_back` when the PG refuses);
- :func:`revoke_grant`: a whole grant nobody has touched, e.g. a cancelled coupon redemption
  (journal ``grant_revocation``). A lot partly spent, held or expired is refused
  (``grant_in_use``), so revoking never reaches into cash the member has already used.

Only what the lot still has can go; an expired lot has nothing left (its cash went to
breakage).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.kernel.errors import Conflict, NotFound
from coffer.kernel.money import parse_amount
from coffer.ledger import store
from coffer.ledger.accounts import grant_funding_account
from coffer.ledger.model import Draw, WalletRef
from coffer.ledger.service import SpendResult, _begin, _draw_out, _reverse, _text

CLAWBACK_KIND = "bonus_clawback"
REVOCATION_KIND = "grant_revocation"


def claw_back(
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
    """Take ``amount`` of one bonus lot back (``clawback_exceeds_remaining``: nothing written)."""
    parse_amount(amount)
    reference_text = _text(reference, "reference", 200, required=True)
    reason = _text(reason, "reason", 500)
    live = _begin(conn, wallet, now, external_id)
    lot = next((lot for lot in live if lot.id == lot_id and lot.kind == "bonus"), None)
    if lot is None or lot.remaining < amount:
        remaining = 0 if lot is None else lot.remaining
        raise Conflict(
            "clawback_exceeds_remaining",
            f"Only {remaining} of this bonus is left to take back.",
            {"remaining": remaining, "amount": amount},
        )
    return _take(conn, wallet, lot_id, "bonus", amount, CLAWBACK_KIND, "cash.bonus_clawed_back",
                 actor=actor, now=now, reference=reference_text, reason=reason,
                 external_id=external_id)  # fmt: skip


def reverse_claw_back(
    conn: Connection,
    wallet: WalletRef,
    journal_id: UUID,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> SpendResult:
    """Put a clawed-back bonus back into its lot (the PG refused the refund that took it).

    A lot that expired in between gets the cash back and loses it to breakage at once, as any
    reversal (``model``).
    """
    return _reverse(conn, wallet, journal_id, CLAWBACK_KIND, actor=actor, now=now,
                    reason=reason, external_id=external_id)  # fmt: skip


def revoke_grant(
    conn: Connection,
    wallet: WalletRef,
    lot_id: UUID,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> UUID:
    """Take a whole, unexpired, untouched grant lot back; returns the journal's id.

    404 ``lot_not_found`` (not this member's); 409 ``grant_in_use`` when any of the lot was
    spent, is held or has expired, or the lot is not a grant.
    """
    reason = _text(reason, "reason", 500)
    live = {lot.id: lot for lot in _begin(conn, wallet, now, external_id)}
    lot = store.granted_lot(conn, wallet.member_id, lot_id)
    if lot is None:
        raise NotFound("lot_not_found", "No such lot for this member.")
    if lot.journal_kind != "grant" or lot.remaining != lot.amount or lot_id not in live:
        raise Conflict(
            "grant_in_use",
            "The granted cash has been used (spent, held or expired) and cannot be taken back.",
            {"amount": lot.amount, "remaining": lot.remaining},
        )
    taken = _take(conn, wallet, lot_id, lot.kind, lot.amount, REVOCATION_KIND, "cash.revoked",
                  actor=actor, now=now, reference=None, reason=reason,
                  external_id=external_id)  # fmt: skip
    return taken.journal_id


def _take(
    conn: Connection,
    wallet: WalletRef,
    lot_id: UUID,
    cash_kind: str,
    amount: int,
    journal_kind: str,
    event: str,
    *,
    actor: str,
    now: datetime,
    reference: str | None,
    reason: str | None,
    external_id: str | None,
) -> SpendResult:
    """One journal drawing ``amount`` from the lot back to the account that funded it."""
    lot = store.granted_lot(conn, wallet.member_id, lot_id)
    assert lot is not None
    return _draw_out(
        conn, wallet, [Draw(lot_id, cash_kind, amount)], kind=journal_kind,
        to=grant_funding_account(lot.source), event=event, actor=actor, now=now,
        external_id=external_id, reference=reference, reason=reason,
        event_data={"lot_id": str(lot_id), "cash_kind": cash_kind},
    )  # fmt: skip
