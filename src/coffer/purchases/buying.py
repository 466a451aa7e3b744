"""Purchases: price, pay with cash, grant the entitlements, record revenue by CP — or nothing.

Each use case runs in the caller's transaction, so a purchase is all or nothing: the spends, the
grants, the purchase rows, the revenue rows and the ``purchase.completed`` event commit
together, and any refusal or failure in between (a crash included: ``purchase.after_debit`` is a
named crash point between the cash debit and the grant) rolls every one of them back.

Callers resolve the buyer with the application's member rules (``app.member_wallet``: a
suspended or closed member cannot spend) and pass the member with its wallet. The buyer's
wallet row is locked first, so one member's purchases and cancellations are serialised: the
purchase-limit and funds checks, the member's policy uses and its first-purchase fact still
hold when the transaction commits.

Prices come from the quote engine (:mod:`coffer.purchases.quoting`): the live discount
policies, whose budgets are locked before pricing, and an optional discount coupon. The
purchase records each policy's use per line and spends its budget, consumes the coupon, and
stores the engine's quote (every rule, version, amount and reason) with the purchase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from coffer.catalog import time_rates
from coffer.catalog.model import Product
from coffer.coupons import redeeming
from coffer.db.outbox import emit_event
from coffer.entitlements import grants
from coffer.kernel.crash import crash_point
from coffer.kernel.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.ledger import queries as ledger_queries
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.pricing import policy_uses
from coffer.purchases import quoting
from coffer.purchases.model import (
    LineDraw,
    Pricer,
    ProductRef,
    Purchase,
    PurchaseLine,
    Quote,
    Revenue,
    RevenueShare,
    check_expected_total,
    check_limit,
    check_quote,
    completed_event,
    engine_price,
    limit_window_start,
    line_revenue,
    minutes_for,
)
from coffer.purchases.records import Buyer, insert_revenue, lock_members
from coffer.purchases.tables import purchase_lines, purchases
from coffer.tenancy.model import Member, Service

#: Named crash point between a line's cash debit and its grant (tests/fault).
CRASH_AFTER_DEBIT = "purchase.after_debit"

# Built once: these run on every purchase.
_insert_purchase = insert(purchases)
_insert_lines = insert(purchase_lines)


@dataclass(frozen=True, slots=True)
class _Paid:
    """A line paid and granted, not yet written."""

    line: PurchaseLine
    revenue: list[RevenueShare]
    sku: str | None


# --- purchase -------------------------------------------------------------------------------


def purchase(
    conn: Connection,
    service: Service,
    buyer: Buyer,
    lines: Sequence[tuple[ProductRef | UUID | str, object]],
    *,
    gift_to: Member | None,
    actor: str,
    now: datetime,
    coupon: str | None = None,
    expected_total: int | None = None,
    pricer: Pricer = engine_price,
) -> Purchase:
    """Buy ``lines`` (product, quantity) for the buyer, or for ``gift_to``: all or nothing.

    Priced by the quote engine with the live policies and the discount ``coupon`` (its text,
    as typed); ``expected_total``: buy only at this total.

    Refusals (nothing written): ``invalid_lines``, ``invalid_product``, ``invalid_quantity``,
    ``product_not_found`` (also another service's product), ``product_not_on_sale``,
    ``product_not_purchasable``, ``recipient_not_found``, ``recipient_closed``,
    ``purchase_limit_exceeded``, ``price_changed``, ``insufficient_funds``, the coupon's
    refusals and ``coupon_not_applicable`` (the coupon would take nothing off these lines).
    """
    member, wallet = buyer
    resolved = quoting.resolve_lines(conn, service, lines, now)
    recipient = _recipient(service, member, gift_to)
    bought, components = list(resolved.bought), resolved.components
    live = policy_uses.live_policies(conn, service.id)
    limited = any(limit_window_start(p, now) is not None for p, _quantity in bought)
    if limited or live or coupon is not None or len(bought) > 1 or recipient.id != member.id:
        # Before the checks that read the member's state; a plain one-line purchase for
        # oneself needs no lock of its own: the spend takes it before it reads anything.
        lock_members(conn, member.id, recipient.id)
    _check_limits(conn, member.id, bought, now)
    inputs = quoting.engine_inputs(
        conn, service, member, bought, coupon_code=coupon, now=now, lock=True, live=live
    )
    request = inputs.request(service, member, bought, now)
    quote = pricer(request)
    check_quote(quote, request)
    if inputs.coupon is not None and quote.coupon_discount == 0:
        raise _not_applicable(quote)
    check_expected_total(quote, expected_total)
    if len(bought) > 1:  # one line: the spend itself refuses before it writes anything
        _check_funds(conn, wallet, quote.total, now)

    purchase_id = uuid7()
    paid: list[_Paid] = []
    for (product, quantity), priced in zip(bought, quote.lines, strict=True):
        line_id = uuid7()
        journal_id, draws = _pay(
            conn, buyer, purchase_id, priced.amount, f"{product.sku} x{quantity}", actor, now
        )
        crash_point(CRASH_AFTER_DEBIT)
        granted = _grant(conn, service, recipient, product, quantity, components, line_id, now)
        line = PurchaseLine(
            id=line_id, purchase_id=purchase_id, kind="product", product_id=product.id,
            quantity=quantity, unit_price=priced.unit_price, amount=priced.amount,
            status="active", journal_id=journal_id, reversal_journal_id=None,
            cancelled_at=None, entitlement_ids=tuple(granted), draws=draws,
            discount=priced.discount,
        )  # fmt: skip
        shares = line_revenue(product, priced.amount, components.get(product.id, ()))
        paid.append(_Paid(line, shares, product.sku))
    made = _record(
        conn, service, member, recipient, purchase_id, quote.total, quote.as_json(), paid, now
    )
    priced_lines = [(p.line.id, q) for p, q in zip(paid, quote.lines, strict=True)]
    policy_uses.record(conn, service.id, member.id, purchase_id, priced_lines, now)
    if inputs.coupon is not None:
        redeeming.use_in_purchase(
            conn, inputs.coupon, member, purchase_id, quote.coupon_discount, now
        )
    return made


def _not_applicable(quote: Quote) -> Conflict:
    """A coupon that would take nothing off is not spent on the purchase."""
    priced = quote.priced
    reasons = [] if priced is None else [a.reason for a in priced.skipped if a.key.kind == "coupon"]
    return Conflict(
        "coupon_not_applicable",
        "The coupon takes nothing off these products.",
        {"reason": reasons[0] if reasons else "nothing off"},
    )


def _recipient(service: Service, buyer: Member, gift_to: Member | None) -> Member:
    if gift_to is None or gift_to.id == buyer.id:
        return buyer
    if gift_to.service_id != service.id:
        raise NotFound("recipient_not_found", "No such recipient in this service.")
    if gift_to.status == "closed":
        raise Conflict(
            "recipient_closed", f"Member {gift_to.external_id!r} is closed and cannot receive."
        )
    return gift_to


_bought_since = (
    select(func.coalesce(func.sum(purchase_lines.c.quantity), 0))
    .select_from(purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id))
    .where(purchase_lines.c.status == "active")
)


def _check_limits(
    conn: Connection, member_id: UUID, bought: list[tuple[Product, int]], now: datetime
) -> None:
    """The buyer's non-cancelled quantity of each limited product in its window, plus this."""
    requested: dict[UUID, int] = defaultdict(int)
    limited: dict[UUID, Product] = {}
    for product, quantity in bought:
        if limit_window_start(product, now) is not None:
            requested[product.id] += quantity
            limited[product.id] = product
    for product_id, product in limited.items():
        since = limit_window_start(product, now)
        already = conn.execute(
            _bought_since.where(
                purchases.c.member_id == member_id,
                purchase_lines.c.product_id == product_id,
                purchases.c.created_at > since,
            )
        ).scalar_one()
        check_limit(product, int(already), requested[product_id])


def _check_funds(conn: Connection, wallet: WalletRef, total: int, now: datetime) -> None:
    available = ledger_queries.balance(conn, wallet.member_id, now).available
    if available < total:
        raise InsufficientFunds(total, available)


def _pay(
    conn: Connection,
    buyer: Buyer,
    purchase_id: UUID,
    amount: int,
    memo: str,
    actor: str,
    now: datetime,
) -> tuple[UUID | None, tuple[LineDraw, ...]]:
    """One line's spend journal (none for a line priced at zero)."""
    if amount == 0:
        return None, ()
    member, wallet = buyer
    spent = ledger.spend(
        conn, wallet, amount=amount, reference=f"purchase:{purchase_id}", memo=memo,
        actor=actor, now=now, external_id=member.external_id,
    )  # fmt: skip
    draws = tuple(LineDraw(d.lot_id, d.kind, d.amount) for d in spent.draws)
    return spent.journal_id, draws


def _grant(
    conn: Connection,
    service: Service,
    recipient: Member,
    product: Product,
    quantity: int,
    components: dict[UUID, list[tuple[Product, int]]],
    line_id: UUID,
    now: datetime,
) -> list[UUID]:
    """Grant the line's entitlements: the product, or each component, times the quantity."""
    parts = components[product.id] if product.kind == "package" else [(product, 1)]
    granted: list[UUID] = []
    for part, per_unit in parts:
        granted += grants.grant_product(
            conn, service_id=service.id, member_id=recipient.id, product=part,
            quantity=per_unit * quantity, purchase_line_id=line_id, now=now,
        )  # fmt: skip
    return granted


def _record(
    conn: Connection,
    service: Service,
    buyer: Member,
    recipient: Member,
    purchase_id: UUID,
    total: int,
    quote: dict[str, Any],
    paid: list[_Paid],
    now: datetime,
) -> Purchase:
    """Write the purchase, its lines and revenue rows, and queue ``purchase.completed``."""
    conn.execute(
        _insert_purchase,
        {
            "id": purchase_id, "service_id": service.id, "member_id": buyer.id,
            "recipient_id": recipient.id, "total": total, "status": "completed",
            "quote": quote, "created_at": now, "updated_at": now,
        },
    )  # fmt: skip
    conn.execute(_insert_lines, [_line_row(p.line) for p in paid])
    revenue = [
        Revenue(p.line.id, share.product_id, share.cp_id, share.amount, now)
        for p in paid
        for share in p.revenue
    ]
    insert_revenue(conn, service.id, purchase_id, revenue)
    lines = [(p.line, p.sku) for p in paid]
    data = completed_event(buyer, recipient, purchase_id, total, service.currency, lines)
    emit_event(conn, service.id, "purchase.completed", data, now=now)
    return Purchase(
        id=purchase_id, service_id=service.id, member_id=buyer.id, recipient_id=recipient.id,
        total=total, status="completed", quote=quote, created_at=now, updated_at=now,
        lines=tuple(p.line for p in paid), revenue=tuple(revenue),
    )  # fmt: skip


def _line_row(line: PurchaseLine) -> dict[str, object]:
    return {
        "id": line.id, "purchase_id": line.purchase_id, "kind": line.kind,
        "product_id": line.product_id, "quantity": line.quantity,
        "unit_price": line.unit_price, "discount": line.discount, "amount": line.amount,
        "status": line.status,
        "journal_id": line.journal_id, "reversal_journal_id": None, "cancelled_at": None,
        "entitlement_ids": [str(e) for e in line.entitlement_ids],
    }  # fmt: skip


# --- time by the rate card ------------------------------------------------------------------


def buy_minutes(
    conn: Connection, service: Service, buyer: Buyer, amount: object, *, actor: str, now: datetime
) -> Purchase:
    """Play time for ``amount`` of cash at the service's rate card, as a one-line purchase.

    409 ``no_time_rate``; 422 ``invalid_amount``, ``amount_not_whole_minutes``,
    ``insufficient_funds``. The line has no product (``kind = 'time'``); its revenue is the
    service's own (no CP).
    """
    member, _wallet = buyer
    cash = parse_amount(amount)
    rate = time_rates.get_rate(conn, service.id)
    if rate is None:
        raise Conflict("no_time_rate", "This service sells no time by the rate card.")
    minutes = minutes_for(cash, rate)
    if minutes > grants.MAX_GRANT_MINUTES:
        raise InvalidInput(
            "invalid_amount",
            f"At most {grants.MAX_GRANT_MINUTES} minutes can be bought at once.",
            {"max_amount": grants.MAX_GRANT_MINUTES * rate},
        )
    purchase_id, line_id = uuid7(), uuid7()
    journal_id, draws = _pay(conn, buyer, purchase_id, cash, f"time {minutes} min", actor, now)
    crash_point(CRASH_AFTER_DEBIT)
    entitlement = grants.grant_minutes(
        conn, service_id=service.id, member_id=member.id, minutes=minutes,
        purchase_line_id=line_id, now=now,
    )  # fmt: skip
    line = PurchaseLine(
        id=line_id, purchase_id=purchase_id, kind="time", product_id=None, quantity=minutes,
        unit_price=rate, amount=cash, status="active", journal_id=journal_id,
        reversal_journal_id=None, cancelled_at=None, entitlement_ids=(entitlement,), draws=draws,
    )  # fmt: skip
    quote = {"pricer": "time_rate", "cash_per_minute": rate, "minutes": minutes, "total": cash}
    paid = [_Paid(line, [RevenueShare(None, None, cash)], None)]
    return _record(conn, service, member, member, purchase_id, cash, quote, paid, now)
