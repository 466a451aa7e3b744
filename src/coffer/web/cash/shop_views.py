"""What the shop pages and "My items" show, each read (or the purchase written) in one
transaction and scoped to the signed-in member and the service.

- the menu is the catalog's tree with hidden categories (and their subtrees) left out; a
  category page lists its subcategories and the products on sale in it, in the menu's order;
- a product page shows a product on sale now (anything else is "not found");
- a purchase goes through :func:`coffer.purchases.buying.purchase` at list price, once per
  confirmation form: the form's key is claimed in the idempotency table in the purchase's own
  transaction, so a second submission finds the first purchase instead of buying again;
- a purchase page shows only a purchase the member made or received.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import categories, products
from coffer.catalog.categories import CategoryNode
from coffer.catalog.model import Category, Product, is_on_sale
from coffer.catalog.shop_queries import products_by_ids
from coffer.db import idempotency
from coffer.entitlements import grants
from coffer.entitlements.model import Entitlement, MemberEntitlements
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.ledger import queries
from coffer.ledger.model import Balance
from coffer.purchases import buying, records
from coffer.purchases.model import NOT_PURCHASABLE, Purchase, PurchaseLine
from coffer.tenancy.cash_sessions import CashSession

#: Purchases listed under "My items".
RECENT_PURCHASES = 10
#: The confirmation form's key: 32 hex digits, made when the page is shown.
_KEY = re.compile(r"[0-9a-f]{32}")


def _not_found() -> NotFound:
    return NotFound("not_found", "No such page.")


# --- the menu ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuView:
    tree: list[CategoryNode]
    #: Products on sale per category (for "3 items" beside each).
    counts: dict[UUID, int]


def menu(conn: Connection, service_id: UUID, now: datetime) -> MenuView:
    tree = categories.category_tree(conn, service_id, visible_only=True)
    placed = products.on_sale_by_category(conn, service_id, now)
    return MenuView(tree, {cid: len(found) for cid, found in placed.items()})


def _find(
    nodes: list[CategoryNode] | tuple[CategoryNode, ...], wanted: UUID, path: list[Category]
) -> tuple[CategoryNode, list[Category]] | None:
    for node in nodes:
        if node.category.id == wanted:
            return node, path
        found = _find(node.children, wanted, [*path, node.category])
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class CategoryView:
    node: CategoryNode
    #: The categories above it, the top one first.
    path: list[Category]
    products: list[Product]
    counts: dict[UUID, int]


def category_page(
    conn: Connection, service_id: UUID, category_id: UUID, now: datetime
) -> CategoryView:
    """A visible category (a hidden one, or one under a hidden one, is not found)."""
    shown = menu(conn, service_id, now)
    found = _find(shown.tree, category_id, [])
    if found is None:
        raise _not_found()
    node, path = found
    on_sale = products.products_on_sale(conn, service_id, now, category_id=category_id)
    return CategoryView(node, path, on_sale, shown.counts)


# --- a product and buying it ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductView:
    product: Product
    #: A package's contents (component, quantity).
    components: list[tuple[Product, int]]
    balance: Balance

    @property
    def buyable(self) -> bool:
        """Bought in the shop (a metered product is charged as it is used instead)."""
        return self.product.kind not in NOT_PURCHASABLE


def product_page(
    conn: Connection, session: CashSession, product_id: UUID, now: datetime
) -> ProductView:
    """A product of the member's service that is on sale now."""
    try:
        product = products.get_product(conn, session.service.id, product_id)
    except NotFound:
        raise _not_found() from None
    if not is_on_sale(product, now):
        raise _not_found()
    components = products.package_components(conn, product.id) if product.kind == "package" else []
    return ProductView(product, components, queries.balance(conn, session.member.id, now))


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation page: what it costs and what is left after."""

    view: ProductView
    quantity: int
    total: int

    @property
    def after(self) -> int:
        return self.view.balance.available - self.total

    @property
    def affordable(self) -> bool:
        return self.after >= 0


def confirmation(
    conn: Connection, session: CashSession, product_id: UUID, quantity: int, now: datetime
) -> Confirmation:
    view = product_page(conn, session, product_id, now)
    return Confirmation(view, quantity, view.product.price * quantity)


def _scoped(member_id: UUID, key: str) -> str:
    return f"cash-shop:{member_id}:{key}"


def buy(
    conn: Connection,
    session: CashSession,
    product_id: UUID,
    quantity: int,
    *,
    key: str,
    confirmed_total: int,
    now: datetime,
) -> UUID:
    """Buy ``quantity`` of the product at list price, once per ``key``; the purchase's id.

    409 ``price_changed`` when the total is no longer the one the member confirmed; 422
    ``form_expired`` for a key that is malformed or was used for another purchase; the
    purchase's own refusals (``insufficient_funds``, ``purchase_limit_exceeded``, …).
    """
    if not _KEY.fullmatch(key):
        raise InvalidInput("form_expired", "The confirmation form has expired.")
    service, member = session.service, session.member
    fingerprint = hashlib.sha256(f"{member.id}|{product_id}|{quantity}".encode()).hexdigest()
    try:
        stored = idempotency.claim(conn, service.id, _scoped(member.id, key), fingerprint, now)
    except idempotency.KeyReused:
        raise InvalidInput("form_expired", "The confirmation form has expired.") from None
    if stored is not None:
        return UUID(str(stored.body["purchase_id"]))
    product = product_page(conn, session, product_id, now).product
    if product.price * quantity != confirmed_total:
        raise Conflict(
            "price_changed",
            "The price changed since you confirmed.",
            {"total": product.price * quantity},
        )
    buyer = app.member_wallet(conn, service, member.external_id, spending=True)
    made = buying.purchase(
        conn, service, buyer, [(product.id, quantity)], gift_to=None,
        actor=f"member:{member.external_id}", now=now,
    )  # fmt: skip
    idempotency.record(
        conn, service.id, _scoped(member.id, key), 303, {"purchase_id": str(made.id)}
    )
    return made.id


# --- a purchase and what the member owns ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineView:
    line: PurchaseLine
    product: Product | None
    granted: list[Entitlement]


@dataclass(frozen=True, slots=True)
class PurchaseView:
    purchase: Purchase
    lines: list[LineView]
    products: dict[UUID, Product]
    balance: Balance


def my_purchase(
    conn: Connection, session: CashSession, purchase_id: UUID, now: datetime
) -> PurchaseView:
    """One of the member's purchases (made or received); anyone else's is not found."""
    member = session.member
    try:
        found = records.get_purchase(conn, session.service.id, purchase_id, with_draws=False)
    except NotFound:
        raise _not_found() from None
    if member.id not in (found.member_id, found.recipient_id):
        raise _not_found()
    granted = {line.id: grants.line_entitlements(conn, line.id) for line in found.lines}
    ids = [line.product_id for line in found.lines]
    ids += [e.product_id for entries in granted.values() for e in entries]
    named = products_by_ids(conn, session.service.id, ids)
    lines = [
        LineView(line, named.get(line.product_id) if line.product_id else None, granted[line.id])
        for line in found.lines
    ]
    return PurchaseView(found, lines, named, queries.balance(conn, member.id, now))


@dataclass(frozen=True, slots=True)
class ItemsView:
    owned: MemberEntitlements
    products: dict[UUID, Product]
    purchases: list[Purchase]


def my_items(conn: Connection, session: CashSession, now: datetime) -> ItemsView:
    """What the member owns now, and their latest purchases."""
    member = session.member
    owned = grants.member_entitlements(conn, member.id, now)
    recent = records.member_purchases(
        conn, session.service.id, member.id, before=None, limit=RECENT_PURCHASES
    )
    ids = [e.product_id for e in (*owned.items, *owned.passes)]
    ids += [q.product_id for q in owned.quantities]
    ids += [line.product_id for p in recent for line in p.lines]
    return ItemsView(owned, products_by_ids(conn, session.service.id, ids), recent)
