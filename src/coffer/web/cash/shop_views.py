"""What the shop pages and "My items" show, each read (or the purchase written) in one
transaction and scoped to the signed-in member and the service.

- the menu is the catalog's tree with hidden categories (and their subtrees) left out; a
  category page lists its subcategories and the products on sale in it, in the menu's order;
- a product page shows a product on sale now (anything else is "not found");
- the confirmation prices the line with :func:`coffer.purchases.quoting.quote` (the live
  discount policies, and a discount coupon when the member typed one): list price, every rule
  that applied, the coupon's part, the total and what it draws from bonus and paid cash. A
  coupon the quote refuses is shown beside the coupon box and the price is shown without it;
- a purchase goes through :func:`coffer.purchases.buying.purchase` (with the coupon), once per
  confirmation form: the form's key is claimed in the idempotency table in the purchase's own
  transaction, so a second submission finds the first purchase instead of buying again. The
  purchase is made only at the total the member confirmed (``price_changed`` otherwise);
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
from coffer.kernel.errors import CofferError, Conflict, InvalidInput, NotFound
from coffer.ledger import queries
from coffer.ledger.model import Balance
from coffer.pricing.model import Applied, Effect, PricedQuote, parse_effect
from coffer.purchases import buying, quoting, records
from coffer.purchases.model import NOT_PURCHASABLE, Purchase, PurchaseLine
from coffer.tenancy.cash_sessions import CashSession

#: Purchases listed under "My items".
RECENT_PURCHASES = 10
#: The confirmation form's key: 32 hex digits, made when the page is shown.
_KEY = re.compile(r"[0-9a-f]{32}")
#: The longest coupon text the coupon box takes (codes are 16 characters, public ones 32).
COUPON_MAX = 64


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


def coupon_text(raw: str) -> str:
    """What the member typed in the coupon box, trimmed ("" for none); longer than any code
    could be is refused as malformed."""
    value = raw.strip()
    if len(value) > COUPON_MAX:
        raise InvalidInput("invalid_coupon_code", "This is not a coupon code.")
    return value


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation page: the quote, what it draws and what is left after."""

    view: ProductView
    quantity: int
    priced: PricedQuote
    #: The coupon applied ("" for none).
    coupon: str = ""
    #: The coupon the member typed and the quote refused, with the refusal.
    refused_coupon: str = ""
    coupon_error: CofferError | None = None

    @property
    def total(self) -> int:
        return self.priced.total

    @property
    def policies(self) -> list[Applied]:
        """The discount policies that took something off, line by line."""
        return [a for line in self.priced.lines for a in line.applied if a.key.kind != "coupon"]

    @property
    def coupons(self) -> list[Applied]:
        return [a for line in self.priced.lines for a in line.applied if a.key.kind == "coupon"]

    @property
    def after(self) -> int:
        return self.view.balance.available - self.total

    @property
    def affordable(self) -> bool:
        return self.after >= 0


def _quote(
    conn: Connection, session: CashSession, product: Product, quantity: int, coupon: str,
    now: datetime,
) -> PricedQuote:  # fmt: skip
    member, wallet = app.member_wallet(conn, session.service, session.member.external_id,
                                       spending=False)  # fmt: skip
    return quoting.quote(
        conn, session.service, member, wallet, [(product.id, quantity)],
        coupon_code=coupon or None, now=now,
    )  # fmt: skip


def confirmation(
    conn: Connection,
    session: CashSession,
    product_id: UUID,
    quantity: int,
    now: datetime,
    *,
    coupon: str = "",
) -> Confirmation:
    """The quote for ``quantity`` of the product, with ``coupon`` when one was typed; a coupon
    the quote refuses leaves the price without it and the refusal beside the box."""
    view = product_page(conn, session, product_id, now)
    if not view.buyable:
        raise _not_found()
    if not coupon:
        return Confirmation(view, quantity, _quote(conn, session, view.product, quantity, "", now))
    try:
        code = coupon_text(coupon)
        priced = _quote(conn, session, view.product, quantity, code, now)
        if priced.coupon_discount == 0:
            # A purchase refuses a coupon that takes nothing off: say so before the button.
            raise Conflict("coupon_not_applicable", "The coupon takes nothing off this.")
    except CofferError as error:
        plain = _quote(conn, session, view.product, quantity, "", now)
        return Confirmation(view, quantity, plain, "", coupon, error)
    return Confirmation(view, quantity, priced, code)


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
    coupon: str = "",
    now: datetime,
) -> UUID:
    """Buy ``quantity`` of the product with the ``coupon`` (if any) at the total the member
    confirmed, once per ``key``; the purchase's id.

    409 ``price_changed`` when the total is no longer the one the member confirmed (nothing is
    bought); 422 ``form_expired`` for a key that is malformed or was used for another purchase;
    the coupon's refusals (``coupon_expired``, …) and the purchase's own
    (``insufficient_funds``, ``purchase_limit_exceeded``, …).
    """
    if not _KEY.fullmatch(key):
        raise InvalidInput("form_expired", "The confirmation form has expired.")
    code = coupon_text(coupon)
    service, member = session.service, session.member
    form = f"{member.id}|{product_id}|{quantity}|{code}|{confirmed_total}"
    fingerprint = hashlib.sha256(form.encode()).hexdigest()
    try:
        stored = idempotency.claim(conn, service.id, _scoped(member.id, key), fingerprint, now)
    except idempotency.KeyReused:
        raise InvalidInput("form_expired", "The confirmation form has expired.") from None
    if stored is not None:
        return UUID(str(stored.body["purchase_id"]))
    product = product_page(conn, session, product_id, now).product
    buyer = app.member_wallet(conn, service, member.external_id, spending=True)
    made = buying.purchase(
        conn, service, buyer, [(product.id, quantity)], gift_to=None,
        actor=f"member:{member.external_id}", now=now, coupon=code or None,
        expected_total=confirmed_total,
    )  # fmt: skip
    idempotency.record(
        conn, service.id, _scoped(member.id, key), 303, {"purchase_id": str(made.id)}
    )
    return made.id


# --- a purchase and what the member owns ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discount:
    """One rule's part in a bought line's price, as the purchase recorded it in its quote."""

    name: str
    amount: int
    reason: str
    coupon: bool
    effect: Effect | None = None
    capped: bool = False


@dataclass(frozen=True, slots=True)
class LineView:
    line: PurchaseLine
    product: Product | None
    granted: list[Entitlement]
    discounts: tuple[Discount, ...] = ()

    @property
    def list_amount(self) -> int:
        return self.line.unit_price * self.line.quantity


@dataclass(frozen=True, slots=True)
class PurchaseView:
    purchase: Purchase
    lines: list[LineView]
    products: dict[UUID, Product]
    balance: Balance

    @property
    def discount(self) -> int:
        return sum(d.amount for lv in self.lines for d in lv.discounts)

    @property
    def list_total(self) -> int:
        return sum(lv.list_amount for lv in self.lines)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _effect(value: object) -> Effect | None:
    """A recorded effect (None: recorded before effects were, or unreadable)."""
    try:
        return parse_effect(value)
    except InvalidInput:
        return None


def recorded_discounts(purchase: Purchase) -> dict[UUID, tuple[Discount, ...]]:
    """The discounts of each line (by line id) from the quote the purchase was charged at.

    The quote's lines are matched to the purchase's lines by product, in order; a purchase
    recorded without a quote (or at list price) has none.
    """
    quote = purchase.quote if isinstance(purchase.quote, dict) else {}
    quoted = [q for q in quote.get("lines") or [] if isinstance(q, dict)]
    found: dict[UUID, tuple[Discount, ...]] = {}
    for line in purchase.lines:
        match = next((q for q in quoted if q.get("product_id") == str(line.product_id)), None)
        if match is None:
            continue
        quoted.remove(match)
        applied = [a for a in match.get("applied") or [] if isinstance(a, dict)]
        found[line.id] = tuple(
            Discount(
                name=str(a.get("name", "")),
                amount=_int(a.get("amount")),
                reason=str(a.get("reason", "")),
                coupon=a.get("kind") == "coupon",
                effect=_effect(a.get("effect")),
                capped=a.get("capped") is True,
            )
            for a in applied
            if _int(a.get("amount")) > 0
        )
    return found


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
    discounts = recorded_discounts(found)
    lines = [
        LineView(
            line,
            named.get(line.product_id) if line.product_id else None,
            granted[line.id],
            discounts.get(line.id, ()),
        )
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
