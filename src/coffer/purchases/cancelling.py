"""Use-cancellation: whole, unused lines of a purchase within their window, or nothing.

Each line's spend is reversed onto the exact lots it drew, its entitlements are revoked and its
revenue rows are negated, in the caller's transaction; there is no pro-rata (docs/purchases.md).
A discounted line refunds what was paid for it (its ``amount``), and the discount policies'
uses of it are released: the discount goes back to their budgets and no longer counts against
the member's uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.engine import Connection

from coffer.catalog import products as catalog
from coffer.db.outbox import emit_event
from coffer.entitlements import grants
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.ledger import service as ledger
from coffer.pricing import policy_uses
from coffer.purchases.model import (
    TIME_CANCEL_WINDOW_SECONDS,
    Purchase,
    PurchaseLine,
    Revenue,
    cancellation_refusal,
    cancelled_event,
    in_use_refusal,
    status_after_cancel,
)
from coffer.purchases.records import Buyer, get_purchase, insert_revenue, lock_members
from coffer.purchases.tables import purchase_lines, purchases
from coffer.tenancy.model import Service


def cancel(
    conn: Connection,
    service: Service,
    purchase_id: UUID,
    line_ids: Sequence[UUID] | None,
    *,
    buyer: Buyer,
    actor: str,
    reason: str,
    now: datetime,
) -> Purchase:
    """Cancel some lines (default: every active line) of a purchase, whole lines only.

    Each line must be active (``line_already_cancelled``), within its product's cancellation
    window (``cancel_window_closed``) and unused (``purchase_line_in_use``): there is no
    pro-rata. Any refusal refuses the whole request. Each line's spend is reversed onto the exact
    lots it drew, its entitlements are revoked and its revenue rows are negated.
    """
    member, wallet = buyer
    found = get_purchase(conn, service.id, purchase_id, with_draws=False)
    if found.member_id != member.id:
        raise InvalidInput("buyer_mismatch", "The buyer given is not this purchase's buyer.")
    lock_members(conn, member.id, found.recipient_id)
    found = get_purchase(conn, service.id, purchase_id, with_draws=False)  # as of the lock
    chosen = _chosen_lines(found, line_ids)
    windows = {line.id: _cancel_window(conn, service, line) for line in chosen}
    for line in chosen:
        refusal = cancellation_refusal(line, found.created_at, windows[line.id], now)
        if refusal is not None:
            raise refusal
        if grants.line_in_use(conn, line.id, now):
            raise in_use_refusal(line)

    reversals: dict[UUID, UUID | None] = {}
    for line in chosen:
        reversal = None
        if line.journal_id is not None:
            reversal = ledger.reverse_spend(
                conn, wallet, line.journal_id, actor=actor, now=now, reason=reason,
                external_id=member.external_id,
            ).journal_id  # fmt: skip
        grants.revoke_line(conn, line.id, now)
        reversals[line.id] = reversal
        conn.execute(
            update(purchase_lines)
            .where(purchase_lines.c.id == line.id, purchase_lines.c.status == "active")
            .values(status="cancelled", cancelled_at=now, reversal_journal_id=reversal)
        )
    negated = [
        Revenue(r.line_id, r.product_id, r.cp_id, -r.amount, now)
        for r in found.revenue
        if r.line_id in reversals and r.amount > 0
    ]
    insert_revenue(conn, service.id, found.id, negated)
    policy_uses.release(conn, reversals, now)
    statuses = [("cancelled" if ln.id in reversals else ln.status) for ln in found.lines]
    status = status_after_cancel(statuses)
    conn.execute(
        update(purchases).where(purchases.c.id == found.id).values(status=status, updated_at=now)
    )
    data = cancelled_event(found, member, chosen, reversals, status, reason, service.currency)
    emit_event(conn, service.id, "purchase.cancelled", data, now=now)
    return get_purchase(conn, service.id, found.id)


def _chosen_lines(found: Purchase, line_ids: Sequence[UUID] | None) -> list[PurchaseLine]:
    if line_ids is None:
        chosen = [line for line in found.lines if line.status == "active"]
        if not chosen:
            raise Conflict(
                "line_already_cancelled", "Every line of this purchase is already cancelled."
            )
        return chosen
    by_id = {line.id: line for line in found.lines}
    missing = [str(i) for i in line_ids if i not in by_id]
    if missing or not line_ids:
        raise NotFound(
            "purchase_line_not_found",
            "No such line in this purchase.",
            {"lines": missing},
        )
    return [by_id[i] for i in dict.fromkeys(line_ids)]


def _cancel_window(conn: Connection, service: Service, line: PurchaseLine) -> int:
    if line.product_id is None:
        return TIME_CANCEL_WINDOW_SECONDS
    return catalog.get_product(conn, service.id, line.product_id).cancel_window_seconds
