"""Purchase records: reading purchases with their lines, draws and revenue; shared writes.

The buying and cancelling use cases both lock members' wallets in one order and write revenue
rows; those two pieces live here so that each is written once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import Connection, RowMapping

from coffer.kernel.errors import NotFound
from coffer.kernel.ids import uuid7
from coffer.ledger import store as ledger_store
from coffer.ledger.model import WalletRef
from coffer.purchases.model import LineDraw, Purchase, PurchaseLine, Revenue
from coffer.purchases.tables import purchase_lines, purchase_revenue, purchases
from coffer.tenancy.model import Member

#: The buyer as the application resolved it: the member and its wallet.
Buyer = tuple[Member, WalletRef]

_insert_revenue = insert(purchase_revenue)


def lock_members(conn: Connection, *member_ids: UUID) -> None:
    """Take the wallet locks of buyer and recipient in one fixed order (no deadlock between
    two members gifting each other); the ledger and entitlements re-take them for free."""
    for member_id in sorted(set(member_ids)):
        ledger_store.lock_wallet(conn, member_id)


def insert_revenue(
    conn: Connection, service_id: UUID, purchase_id: UUID, revenue: Iterable[Revenue]
) -> None:
    """Write revenue rows (positive when sold, negative when cancelled)."""
    rows = [_revenue_row(service_id, purchase_id, r) for r in revenue]
    if rows:
        conn.execute(_insert_revenue, rows)


def _revenue_row(service_id: UUID, purchase_id: UUID, revenue: Revenue) -> dict[str, object]:
    return {
        "id": uuid7(), "service_id": service_id, "purchase_id": purchase_id,
        "line_id": revenue.line_id, "cp_id": revenue.cp_id, "product_id": revenue.product_id,
        "amount": revenue.amount, "at": revenue.at,
    }  # fmt: skip


def has_purchased(conn: Connection, member_id: UUID) -> bool:
    """Whether the member has bought anything that is not wholly cancelled (gifts it made
    count, gifts it received do not): a first-purchase discount is for members without."""
    found = conn.execute(
        select(purchases.c.id)
        .where(purchases.c.member_id == member_id, purchases.c.status != "cancelled")
        .limit(1)
    ).first()
    return found is not None


def purchase_member_id(conn: Connection, service_id: UUID, purchase_id: UUID) -> UUID:
    """The buyer of a purchase (``purchase_not_found`` in another service)."""
    member_id: UUID | None = conn.execute(
        select(purchases.c.member_id).where(
            purchases.c.id == purchase_id, purchases.c.service_id == service_id
        )
    ).scalar_one_or_none()
    if member_id is None:
        raise NotFound("purchase_not_found", "No such purchase in this service.")
    return member_id


def get_purchase(
    conn: Connection, service_id: UUID, purchase_id: UUID, *, with_draws: bool = True
) -> Purchase:
    row = (
        conn.execute(
            select(purchases).where(
                purchases.c.id == purchase_id, purchases.c.service_id == service_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("purchase_not_found", "No such purchase in this service.")
    return _load(conn, [row], with_draws=with_draws)[0]


def member_purchases(
    conn: Connection, service_id: UUID, member_id: UUID, *, before: UUID | None, limit: int
) -> list[Purchase]:
    """Purchases the member made or received as a gift, newest first, ``limit`` of them."""
    query = (
        select(purchases)
        .where(
            purchases.c.service_id == service_id,
            or_(purchases.c.member_id == member_id, purchases.c.recipient_id == member_id),
        )
        .order_by(purchases.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(purchases.c.id < before)
    return _load(conn, list(conn.execute(query).mappings()), with_draws=True)


def _load(conn: Connection, rows: list[RowMapping], *, with_draws: bool) -> list[Purchase]:
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    lines: dict[UUID, list[PurchaseLine]] = defaultdict(list)
    for ln in conn.execute(
        select(purchase_lines)
        .where(purchase_lines.c.purchase_id.in_(ids))
        .order_by(purchase_lines.c.id)
    ).mappings():
        lines[ln["purchase_id"]].append(_line(conn, ln, with_draws))
    revenue: dict[UUID, list[Revenue]] = defaultdict(list)
    for rv in conn.execute(
        select(purchase_revenue)
        .where(purchase_revenue.c.purchase_id.in_(ids))
        .order_by(purchase_revenue.c.id)
    ).mappings():
        revenue[rv["purchase_id"]].append(
            Revenue(rv["line_id"], rv["product_id"], rv["cp_id"], rv["amount"], rv["at"])
        )
    return [_purchase(row, lines[row["id"]], revenue[row["id"]]) for row in rows]


def _purchase(row: RowMapping, lines: list[PurchaseLine], revenue: list[Revenue]) -> Purchase:
    return Purchase(
        id=row["id"], service_id=row["service_id"], member_id=row["member_id"],
        recipient_id=row["recipient_id"], total=row["total"], status=row["status"],
        quote=row["quote"], created_at=row["created_at"], updated_at=row["updated_at"],
        lines=tuple(lines), revenue=tuple(revenue),
    )  # fmt: skip


def _line(conn: Connection, row: RowMapping, with_draws: bool) -> PurchaseLine:
    draws: tuple[LineDraw, ...] = ()
    if with_draws and row["journal_id"] is not None:
        draws = tuple(
            LineDraw(d.lot_id, d.kind, d.amount)
            for d in ledger_store.journal_draws(conn, row["journal_id"])
        )
    return PurchaseLine(
        id=row["id"], purchase_id=row["purchase_id"], kind=row["kind"],
        product_id=row["product_id"], quantity=row["quantity"], unit_price=row["unit_price"],
        amount=row["amount"], status=row["status"], journal_id=row["journal_id"],
        reversal_journal_id=row["reversal_journal_id"], cancelled_at=row["cancelled_at"],
        entitlement_ids=tuple(UUID(e) for e in row["entitlement_ids"]), draws=draws,
        discount=row["discount"],
    )  # fmt: skip
