"""Purchases as plain values, and the pure rules about them (docs/purchases.md).

No I/O here. ``service`` loads what these rules need and applies what they decide.

Rules worth stating:

- **Pricing seam.** A purchase is priced by a :data:`Pricer`, a function of a
  :class:`PricingRequest` returning a :class:`Quote`. The default is :func:`engine_price`: the
  quote engine (:func:`coffer.pricing.engine.quote`) over the inputs the request carries (the
  items with their menus, the member's facts, the live policies, a discount coupon), each line
  at its list ``unit_price`` less its ``discount``. :func:`list_price` prices at list price
  only. The quote is stored with the purchase as issued: every rule, version, amount and
  reason.
- **Package split.** A package line's amount is split over its components in proportion to
  each component's list price x its quantity in the package, by the **largest remainder**
  method (:func:`split_largest_remainder`): every part is the exact share rounded down, and the
  won left over go one each to the parts with the largest remainders (ties: the component
  listed first). The parts always add up to the amount exactly.
- **Purchase limits** count what the *buyer* bought of a product (the sum of quantities of
  non-cancelled lines, gifts included) in the last ``limit_days`` days, plus this request.
- **Cancellation** (:func:`cancellation_refusal`): a line is cancelled whole or not at all —
  there is no pro-rata. It must be active, inside its product's cancellation window (measured
  from the purchase; a window of 0 means never), and unused (a consumed item, a used quantity or
  time, a started pass: ``purchase_line_in_use``).
- **Time by the rate card.** An amount buys ``amount // cash_per_minute`` minutes and must be a
  whole number of minutes (``amount_not_whole_minutes``): cash is never silently kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from coffer.catalog.model import Product, is_on_sale
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.kernel.money import MAX_AMOUNT
from coffer.kernel.text import is_storable_text
from coffer.pricing import engine
from coffer.pricing.model import ActiveRule, MemberFacts, PricedLine, PricedQuote, QuoteItem
from coffer.tenancy.model import Member

#: Most lines one purchase may have, and most of one product a line may buy.
MAX_LINES = 50
MAX_LINE_QUANTITY = 10_000

#: The prefix of a product reference by sku (``sku:SWORD-1``); anything else must be an id.
SKU_PREFIX = "sku:"

#: Product kinds that cannot be bought outright: metered products are charged as used.
NOT_PURCHASABLE = frozenset({"metered"})

#: Rate-card time has no product and so no cancellation window of its own: this one.
TIME_CANCEL_WINDOW_SECONDS = 7 * 24 * 3600


# --- input ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductRef:
    """A product named by id or by sku (exactly one of them)."""

    id: UUID | None = None
    sku: str | None = None

    def __str__(self) -> str:
        return str(self.id) if self.id is not None else f"{SKU_PREFIX}{self.sku}"


def parse_product_ref(value: object) -> ProductRef:
    """A product id (UUID) or ``sku:<sku>``; anything else is ``invalid_product``."""
    if isinstance(value, UUID):
        return ProductRef(id=value)
    if isinstance(value, str):
        sku = value[len(SKU_PREFIX) :]
        if value.startswith(SKU_PREFIX) and 1 <= len(sku) <= 100 and is_storable_text(sku):
            return ProductRef(sku=sku)
        try:
            return ProductRef(id=UUID(value))
        except ValueError:
            pass
    raise InvalidInput(
        "invalid_product", "product must be a product id or 'sku:' followed by the sku."
    )


def check_quantity(value: object) -> int:
    """A whole number of units from 1 to :data:`MAX_LINE_QUANTITY`, else ``invalid_quantity``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LINE_QUANTITY:
        raise InvalidInput(
            "invalid_quantity",
            f"quantity must be a whole number from 1 to {MAX_LINE_QUANTITY}.",
        )
    return value


def check_line_count(count: int) -> None:
    if not 1 <= count <= MAX_LINES:
        raise InvalidInput("invalid_lines", f"A purchase has 1 to {MAX_LINES} lines.")


# --- pricing --------------------------------------------------------------------------------


#: One priced line: ``amount = unit_price * quantity - discount`` (the table checks it);
#: ``unit_price`` is the list price, ``applied`` the rules that took ``discount`` off.
QuoteLine = PricedLine


@dataclass(frozen=True, slots=True)
class Quote:
    """What the buyer is asked to pay, line by line, and why (``rules``: none at list price)."""

    lines: tuple[QuoteLine, ...]
    total: int
    pricer: str = "list_price"
    rules: tuple[str, ...] = ()
    #: The engine's quote, when the engine priced it (what is stored then).
    priced: PricedQuote | None = None

    @property
    def coupon_discount(self) -> int:
        return 0 if self.priced is None else self.priced.coupon_discount

    def as_json(self) -> dict[str, Any]:
        if self.priced is not None:
            return {"pricer": self.pricer, **engine.quote_json(self.priced)}
        return {
            "pricer": self.pricer,
            "total": self.total,
            "rules": list(self.rules),
            "lines": [
                {
                    "product_id": str(line.product_id),
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                }
                for line in self.lines
            ],
        }


@dataclass(frozen=True, slots=True)
class PricingRequest:
    """What a pricer may look at: who buys what, when, and the quote engine's inputs.

    ``items`` are the lines as the engine sees them (with their menus; empty: made from
    ``lines`` without menus), ``facts`` the member's (None: the grade, not a first purchase),
    ``rules`` the live policies and ``coupon`` a discount coupon's rule.
    """

    service_id: UUID
    member_id: UUID
    grade: str
    lines: tuple[tuple[Product, int], ...]
    now: datetime
    items: tuple[QuoteItem, ...] = ()
    facts: MemberFacts | None = None
    rules: tuple[ActiveRule, ...] = ()
    coupon: ActiveRule | None = None


#: The seam the policies issue fills: turns a request into a quote.
Pricer = Callable[[PricingRequest], Quote]


def list_price(request: PricingRequest) -> Quote:
    """Every line at its product's list price."""
    lines = tuple(
        QuoteLine(product.id, product.sku, quantity, product.price, 0, product.price * quantity)
        for product, quantity in request.lines
    )
    return Quote(lines=lines, total=sum(line.amount for line in lines))


def quote_items(
    lines: Sequence[tuple[Product, int]], menus: Mapping[UUID, frozenset[UUID]] | None = None
) -> tuple[QuoteItem, ...]:
    """The engine's items: each line at its product's list price (a package at the package's
    price, as one item), with the product's menus and their ancestors."""
    found = menus or {}
    return tuple(
        QuoteItem(
            product_id=product.id,
            sku=product.sku,
            unit_price=product.price,
            quantity=quantity,
            category_ids=found.get(product.id, frozenset()),
        )
        for product, quantity in lines
    )


def engine_price(request: PricingRequest) -> Quote:
    """The quote engine's price of the request: list price less every discount that applies."""
    items = request.items or quote_items(request.lines)
    facts = request.facts or MemberFacts(grade=request.grade)
    priced = engine.quote(items, facts, request.rules, now=request.now, coupon=request.coupon)
    return from_priced(priced)


def from_priced(priced: PricedQuote) -> Quote:
    """A :class:`Quote` of the engine's result (which it keeps, to be stored)."""
    lines = priced.lines
    keys = {applied.key for line in lines for applied in line.applied}
    rules = tuple(f"{key.kind}:{key.id}@{key.version}" for key in sorted(keys))
    return Quote(lines=lines, total=priced.total, pricer="engine", rules=rules, priced=priced)


def check_quote(quote: Quote, request: PricingRequest) -> None:
    """A pricer's quote must price exactly the requested lines, consistently (a bug if not)."""
    asked = [(product.id, quantity) for product, quantity in request.lines]
    priced = [(line.product_id, line.quantity) for line in quote.lines]
    if asked != priced:
        raise AssertionError(f"the quote prices {priced}, not the requested {asked}")
    for line in quote.lines:
        list_amount = line.unit_price * line.quantity
        if (
            line.unit_price < 0
            or not 0 <= line.discount <= list_amount
            or line.amount != list_amount - line.discount
            or line.discount != sum(a.amount for a in line.applied)
        ):
            raise AssertionError(f"inconsistent quote line {line}")
    if quote.total != sum(line.amount for line in quote.lines):
        raise AssertionError("the quote's total is not the sum of its lines")
    check_total(quote.total)


def check_total(total: int) -> None:
    """``invalid_amount`` (422) for a total above :data:`MAX_AMOUNT`: a purchase refuses it, and
    so does a quote (it would quote what cannot be bought)."""
    if total > MAX_AMOUNT:
        raise InvalidInput(
            "invalid_amount", f"The purchase's total must not exceed {MAX_AMOUNT}.", {}
        )


def check_expected_total(quote: Quote, expected_total: int | None) -> None:
    """``price_changed`` (409, details: the ``total`` now) when the caller confirmed another
    total: a changed price buys nothing."""
    if expected_total is not None and quote.total != expected_total:
        raise Conflict(
            "price_changed",
            "The price changed since it was confirmed.",
            {"total": quote.total, "expected_total": expected_total},
        )


# --- refusals before any write --------------------------------------------------------------


def purchasable_refusal(product: Product, now: datetime, *, as_component: bool = False) -> None:
    """Refuse a product that cannot be sold now (components need not be on sale themselves)."""
    if product.kind in NOT_PURCHASABLE or (as_component and product.kind == "package"):
        raise Conflict(
            "product_not_purchasable",
            f"Product {product.sku!r} ({product.kind}) cannot be bought outright.",
            {"product": str(product.id), "sku": product.sku, "kind": product.kind},
        )
    if not as_component and not is_on_sale(product, now):
        raise Conflict(
            "product_not_on_sale",
            f"Product {product.sku!r} is not on sale.",
            {"product": str(product.id), "sku": product.sku},
        )


def limit_window_start(product: Product, now: datetime) -> datetime | None:
    """Purchases since this moment count against the product's limit (None: no limit)."""
    if product.limit_count is None or product.limit_days is None:
        return None
    return now - timedelta(days=product.limit_days)


def check_limit(product: Product, already: int, requested: int) -> None:
    """``purchase_limit_exceeded`` when ``already + requested`` passes the product's limit."""
    if product.limit_count is None or already + requested <= product.limit_count:
        return
    raise Conflict(
        "purchase_limit_exceeded",
        f"At most {product.limit_count} of {product.sku!r} per {product.limit_days} days; "
        f"{already} already bought.",
        {
            "product": str(product.id),
            "sku": product.sku,
            "limit_count": product.limit_count,
            "limit_days": product.limit_days,
            "already": already,
            "requested": requested,
        },
    )


# --- package split --------------------------------------------------------------------------


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` (≥ 0) in proportion to ``weights`` (≥ 0) so the parts sum to it exactly.

    Each part is ``floor(total * w / sum(w))``; the won left over go one each to the largest
    remainders, ties to the earlier weight. All weights zero: split as if they were equal.
    """
    if not weights:
        raise ValueError("nothing to split over")
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("total and weights must not be negative")
    if sum(weights) == 0:
        weights = [1] * len(weights)
    weight_sum = sum(weights)
    parts = [total * weight // weight_sum for weight in weights]
    remainders = [total * weight % weight_sum for weight in weights]
    left = total - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[index] += 1
    return parts


@dataclass(frozen=True, slots=True)
class RevenueShare:
    """Won of one line that one content provider earned through one product."""

    product_id: UUID | None
    cp_id: UUID | None
    amount: int


def line_revenue(
    product: Product, amount: int, components: Sequence[tuple[Product, int]]
) -> list[RevenueShare]:
    """Who earns a line's amount: the product's CP, or a package's components' CPs.

    Components are split by list price x quantity in the package (see the module docstring);
    shares of zero are left out (a zero-priced component earns nothing).
    """
    if product.kind != "package":
        return [RevenueShare(product.id, product.cp_id, amount)] if amount else []
    weights = [component.price * quantity for component, quantity in components]
    parts = split_largest_remainder(amount, weights)
    return [
        RevenueShare(component.id, component.cp_id, part)
        for (component, _quantity), part in zip(components, parts, strict=True)
        if part
    ]


# --- time by the rate card ------------------------------------------------------------------


def minutes_for(amount: int, cash_per_minute: int) -> int:
    """Whole minutes an amount buys, refusing an amount that leaves change."""
    minutes, change = divmod(amount, cash_per_minute)
    if change or minutes == 0:
        raise InvalidInput(
            "amount_not_whole_minutes",
            f"amount must be a multiple of {cash_per_minute} (the price of one minute).",
            {"cash_per_minute": cash_per_minute},
        )
    return minutes


# --- records and cancellation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineDraw:
    lot_id: UUID
    cash_kind: str
    amount: int


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    id: UUID
    purchase_id: UUID
    kind: str
    product_id: UUID | None
    quantity: int
    unit_price: int
    amount: int
    status: str
    journal_id: UUID | None
    reversal_journal_id: UUID | None
    cancelled_at: datetime | None
    entitlement_ids: tuple[UUID, ...]
    draws: tuple[LineDraw, ...] = ()
    #: What discount rules and a coupon took off ``unit_price * quantity``.
    discount: int = 0


@dataclass(frozen=True, slots=True)
class Revenue:
    line_id: UUID
    product_id: UUID | None
    cp_id: UUID | None
    amount: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Purchase:
    id: UUID
    service_id: UUID
    member_id: UUID
    recipient_id: UUID
    total: int
    status: str
    quote: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    lines: tuple[PurchaseLine, ...] = ()
    revenue: tuple[Revenue, ...] = field(default=())


def cancel_window_open(purchased_at: datetime, window_seconds: int, now: datetime) -> bool:
    return window_seconds > 0 and now < purchased_at + timedelta(seconds=window_seconds)


def cancellation_refusal(
    line: PurchaseLine, purchased_at: datetime, window_seconds: int, now: datetime
) -> Conflict | None:
    """Why a line cannot be cancelled, before asking whether it is in use (None: ask)."""
    if line.status == "cancelled":
        return Conflict(
            "line_already_cancelled",
            "This purchase line has already been cancelled.",
            {"line": str(line.id)},
        )
    if not cancel_window_open(purchased_at, window_seconds, now):
        return Conflict(
            "cancel_window_closed",
            "The cancellation window of this purchase line has closed.",
            {
                "line": str(line.id),
                "closed_at": (purchased_at + timedelta(seconds=window_seconds)).isoformat(),
            },
        )
    return None


def in_use_refusal(line: PurchaseLine) -> Conflict:
    return Conflict(
        "purchase_line_in_use",
        "This purchase line has been used (consumed, spent or started) and cannot be cancelled.",
        {"line": str(line.id)},
    )


def status_after_cancel(line_statuses: Sequence[str]) -> str:
    if all(status == "cancelled" for status in line_statuses):
        return "cancelled"
    if any(status == "cancelled" for status in line_statuses):
        return "partially_cancelled"
    return "completed"


# --- webhook events -------------------------------------------------------------------------


def completed_event(
    buyer: Member,
    recipient: Member,
    purchase_id: UUID,
    total: int,
    currency: str,
    lines: Sequence[tuple[PurchaseLine, str | None]],
) -> dict[str, Any]:
    """The data of ``purchase.completed``: who bought what for whom, and what it granted."""
    return {
        "purchase_id": str(purchase_id),
        "member_id": str(buyer.id),
        "external_id": buyer.external_id,
        "recipient_id": str(recipient.id),
        "recipient_external_id": recipient.external_id,
        "total": total,
        "currency": currency,
        "lines": [
            {
                "line_id": str(line.id),
                "kind": line.kind,
                "product_id": _str(line.product_id),
                "sku": sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "amount": line.amount,
                "entitlement_ids": [str(e) for e in line.entitlement_ids],
            }
            for line, sku in lines
        ],
    }


def cancelled_event(
    purchase: Purchase,
    buyer: Member,
    lines: Sequence[PurchaseLine],
    reversals: dict[UUID, UUID | None],
    status: str,
    reason: str,
    currency: str,
) -> dict[str, Any]:
    """The data of ``purchase.cancelled``: the lines cancelled now and their reversals."""
    return {
        "purchase_id": str(purchase.id),
        "member_id": str(buyer.id),
        "external_id": buyer.external_id,
        "recipient_id": str(purchase.recipient_id),
        "status": status,
        "reason": reason,
        "amount": sum(line.amount for line in lines),
        "currency": currency,
        "lines": [
            {
                "line_id": str(line.id),
                "product_id": _str(line.product_id),
                "amount": line.amount,
                "reversal_journal_id": _str(reversals.get(line.id)),
            }
            for line in lines
        ],
    }


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)
