"""Quotes: what some lines would cost this member now, from the database into the quote engine.

A quote and a purchase read the same inputs (:func:`engine_inputs`) and the same engine prices
them, so the purchase that follows a quote costs what the quote said unless something changed
in between (a policy started or ran out, the member used a once-only discount, …):

- the lines are checked as a purchase checks them (:func:`resolve_lines`: ``invalid_lines``,
  ``invalid_product``, ``invalid_quantity``, ``product_not_found``, ``product_not_on_sale``,
  ``product_not_purchasable``); each is one engine item at its product's list price (a package
  at the package's price) with the product's menus and all their ancestors;
- the member's facts: its grade, and whether it has any purchase that is not wholly cancelled
  (a first-purchase policy applies only when it has none);
- the live discount policies with the member's uses and their budgets
  (:func:`coffer.pricing.policy_uses.active_rules`: a purchase locks the budgets, a quote does
  not);
- a discount coupon when one is given (:func:`coffer.coupons.redeeming.discount_coupon`: its
  refusals are the coupon's);
- for a quote, the wallet's available paid and bonus cash and the service's consumption order,
  so the quote says what the total would draw (and what is missing).

A quote writes nothing and takes no lock; purchase limits and funds are the purchase's to
refuse (the quote's ``cash.short`` says how much is missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.catalog import categories
from coffer.catalog import products as catalog
from coffer.catalog.model import Product
from coffer.coupons import redeeming
from coffer.coupons.model import CouponDiscount
from coffer.entitlements import grants
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.ledger import queries as ledger_queries
from coffer.ledger.model import WalletRef
from coffer.pricing import engine, policy_uses
from coffer.pricing.model import ActiveRule, DiscountRule, MemberFacts, PricedQuote, QuoteItem
from coffer.pricing.versioned import Versioned
from coffer.purchases.model import (
    PricingRequest,
    ProductRef,
    check_line_count,
    check_quantity,
    check_total,
    parse_product_ref,
    purchasable_refusal,
    quote_items,
)
from coffer.purchases.records import has_purchased
from coffer.tenancy.model import Member, Service

#: A package's components (component, quantity per package), by package id.
Components = dict[UUID, list[tuple[Product, int]]]


# --- the lines --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """The requested lines, checked: each product with its quantity, and packages' contents."""

    bought: tuple[tuple[Product, int], ...]
    components: Components


def resolve_lines(
    conn: Connection,
    service: Service,
    lines: Sequence[tuple[ProductRef | UUID | str, object]],
    now: datetime,
) -> Resolved:
    """The lines as a purchase takes them, or the purchase's refusal (nothing is written)."""
    check_line_count(len(lines))
    parsed = [
        (ref if isinstance(ref, ProductRef) else parse_product_ref(ref), check_quantity(quantity))
        for ref, quantity in lines
    ]
    bought = tuple((_product(conn, service, ref), quantity) for ref, quantity in parsed)
    components: Components = {}
    for product, quantity in bought:
        purchasable_refusal(product, now)
        if product.kind == "package":
            if product.id not in components:
                components[product.id] = _components(conn, product, now)
            most = max(per_unit for _part, per_unit in components[product.id]) * quantity
            if most > grants.MAX_GRANT_QUANTITY:
                raise InvalidInput(
                    "invalid_quantity",
                    f"{product.sku!r} x{quantity} grants {most} of one component; "
                    f"at most {grants.MAX_GRANT_QUANTITY} can be granted at once.",
                )
    return Resolved(bought, components)


def _product(conn: Connection, service: Service, ref: ProductRef) -> Product:
    try:
        if ref.id is not None:
            product = catalog.get_product(conn, service.id, ref.id)
        else:
            assert ref.sku is not None
            product = catalog.product_by_sku(conn, service.id, ref.sku)
    except NotFound:
        product = None
    if product is None or product.service_id != service.id:
        raise NotFound(
            "product_not_found", f"No product {ref} in this service.", {"product": str(ref)}
        )
    return product


def _components(conn: Connection, package: Product, now: datetime) -> list[tuple[Product, int]]:
    """A package's components, in a stable order (the split's tie-break), each purchasable."""
    found = sorted(catalog.package_components(conn, package.id), key=lambda c: c[0].sku)
    if not found:
        raise Conflict(
            "product_not_purchasable",
            f"Package {package.sku!r} has no components.",
            {"product": str(package.id), "sku": package.sku, "kind": package.kind},
        )
    for component, _quantity in found:
        purchasable_refusal(component, now, as_component=True)
    return found


# --- the engine's inputs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineInputs:
    """Everything the quote engine is given for one member's lines, read from the database."""

    items: tuple[QuoteItem, ...]
    facts: MemberFacts
    rules: tuple[ActiveRule, ...]
    #: The discount coupon, checked for this member (None: no coupon given).
    coupon: CouponDiscount | None

    def request(
        self, service: Service, member: Member, bought: Sequence[tuple[Product, int]],
        now: datetime,
    ) -> PricingRequest:  # fmt: skip
        """The purchase's :class:`PricingRequest` carrying these inputs."""
        return PricingRequest(
            service_id=service.id, member_id=member.id, grade=member.grade, lines=tuple(bought),
            now=now, items=self.items, facts=self.facts, rules=self.rules,
            coupon=None if self.coupon is None else self.coupon.rule,
        )  # fmt: skip


def engine_inputs(
    conn: Connection,
    service: Service,
    member: Member,
    bought: Sequence[tuple[Product, int]],
    *,
    coupon_code: str | None,
    now: datetime,
    lock: bool,
    live: Sequence[Versioned[DiscountRule]] | None = None,
) -> EngineInputs:
    """The engine's inputs for the member's lines; ``lock`` (a purchase) locks the budgets.

    A purchase locks the member *before* calling this whenever a policy is live or a coupon
    is given, so the member's uses and first-purchase fact hold until it commits.
    """
    if live is None:
        live = policy_uses.live_policies(conn, service.id)
    if not live and coupon_code is None:
        # Nothing can discount: list price, without reading menus or the member's purchases.
        return EngineInputs(quote_items(bought), MemberFacts(grade=member.grade), (), None)
    menus = categories.ancestors_of_products(conn, service.id, (p.id for p, _q in bought))
    items = quote_items(bought, menus)
    facts = MemberFacts(grade=member.grade, first_purchase=not has_purchased(conn, member.id))
    rules = policy_uses.active_rules(
        conn, service.id, member.id, now, live=live,
        lock=(lambda rule: engine.could_apply(rule, facts, items, now)) if lock else None,
    )  # fmt: skip
    coupon = None
    if coupon_code is not None:
        coupon = redeeming.discount_coupon(conn, service.id, member, coupon_code, now)
    return EngineInputs(items, facts, tuple(rules), coupon)


# --- a quote ----------------------------------------------------------------------------------


def quote(
    conn: Connection,
    service: Service,
    member: Member,
    wallet: WalletRef,
    lines: Sequence[tuple[ProductRef | UUID | str, object]],
    *,
    coupon_code: str | None,
    now: datetime,
) -> PricedQuote:
    """What ``lines`` (product, quantity) would cost the member now, line by line, with every
    rule that applied or was skipped and why, and what the total would draw from the wallet.

    Reads only (no lock, no write). Refusals: the purchase's line refusals (see
    :func:`resolve_lines`), the coupon's, and ``invalid_amount`` for a total the purchase
    would refuse (above ``MAX_AMOUNT``).
    """
    resolved = resolve_lines(conn, service, lines, now)
    inputs = engine_inputs(
        conn, service, member, resolved.bought, coupon_code=coupon_code, now=now, lock=False
    )
    balance = ledger_queries.balance(conn, member.id, now)
    priced = engine.quote(
        inputs.items, inputs.facts, inputs.rules, now=now,
        coupon=None if inputs.coupon is None else inputs.coupon.rule,
        wallet=(balance.paid, balance.bonus, wallet.consumption_order),
    )  # fmt: skip
    check_total(priced.total)
    return priced
