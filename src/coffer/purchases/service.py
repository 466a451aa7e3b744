"""Purchases: price, pay with cash, grant the entitlements, record revenue by CP — or nothing.

Each use case runs in the caller's transaction, so a purchase is all or nothing: the spends, the
grants, the purchase rows, the revenue rows and the ``purchase.completed`` event commit
together, and any refusal or failure in between (a crash included: ``purchase.after_debit`` is a
named crash point between the cash debit and the grant) rolls every one of them back.

Callers resolve the buyer with the application's member rules (``app.member_wallet``: a
suspended or closed member cannot spend) and pass the member with its wallet. The buyer's
wallet row is locked first, so one member's purchases and cancellations are serialised: the
purchase-limit and funds checks still hold when the transaction commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog import products as catalog
from coffer.catalog import time_rates
from coffer.catalog.model import Product
from coffer.db.outbox import emit_event
from coffer.entitlements import grants
from coffer.kernel.crash import crash_point
from coffer.kernel.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.ledger import queries as ledger_queries
from coffer.ledger import service as ledger
from coffer.ledger import store as ledger_store
from coffer.ledger.model import WalletRef
from coffer.purchases.model import (
    TIME_CANCEL_WINDOW_SECONDS,
    LineDraw,
    Pricer,
    PricingRequest,
    ProductRef,
    Purchase,
    PurchaseLine,
    Revenue,
    RevenueShare,
    cancellation_refusal,
    cancelled_event,
    check_limit,
    check_line_count,
    check_quantity,
    check_quote,
    completed_event,
    in_use_refusal,
    limit_window_start,
    line_revenue,
    list_price,
    minutes_for,
    parse_product_ref,
    purchasable_refusal,
    status_after_cancel,
)
from coffer.purchases.tables import purchase_lines, purchase_revenue, purchases
from coffer.tenancy.model import Member, Service

#: The buyer as the application resolved it: the member and its wallet.
Buyer = tuple[Member, WalletRef]

#: Named crash point between a line's cash debit and its grant (tests/fault).
CRASH_AFTER_DEBIT = "purchase.after_debit"

# Built once: these run on every purchase.
_insert_purchase = insert(purchases)
_insert_lines = insert(purchase_lines)
_insert_revenue = insert(purchase_revenue)


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
    pricer: Pricer = list_price,
) -> Purchase:
    """Buy ``lines`` (product, quantity) for the buyer, or for ``gift_to``: all or nothing.

    Refusals (nothing written): ``invalid_lines``, ``invalid_product``, ``invalid_quantity``,
    ``product_not_found`` (also another service's product), ``product_not_on_sale``,
    ``product_not_purchasable``, ``recipient_not_found``, ``recipient_closed``,
    ``purchase_limit_exceeded``, ``insufficient_funds``.
    """
    member, wallet = buyer
    check_line_count(len(lines))
    parsed = [
        (ref if isinstance(ref, ProductRef) else parse_product_ref(ref), check_quantity(quantity))
        for ref, quantity in lines
    ]
    recipient = _recipient(service, member, gift_to)
    bought = [(_product(conn, service, ref), quantity) for ref, quantity in parsed]
    components: dict[UUID, list[tuple[Product, int]]] = {}
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
    limited = any(limit_window_start(p, now) is not None for p, _quantity in bought)
    if limited or len(bought) > 1 or recipient.id != member.id:
        # Before the checks that read the member's state; a plain one-line purchase for
        # oneself needs no lock of its own: the spend takes it before it reads anything.
        _lock(conn, member.id, recipient.id)
    _check_limits(conn, member.id, bought, now)
    request = PricingRequest(service.id, member.id, member.grade, tuple(bought), now)
    quote = pricer(request)
    check_quote(quote, request)
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
        )  # fmt: skip
        shares = line_revenue(product, priced.amount, components.get(product.id, ()))
        paid.append(_Paid(line, shares, product.sku))
    return _record(
        conn, service, member, recipient, purchase_id, quote.total, quote.as_json(), paid, now
    )


def _lock(conn: Connection, *member_ids: UUID) -> None:
    """Take the wallet locks of buyer and recipient in one fixed order (no deadlock between
    two members gifting each other); the ledger and entitlements re-take them for free."""
    for member_id in sorted(set(member_ids)):
        ledger_store.lock_wallet(conn, member_id)


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
    if revenue:
        conn.execute(_insert_revenue, [_revenue_row(service.id, purchase_id, r) for r in revenue])
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
        "unit_price": line.unit_price, "amount": line.amount, "status": line.status,
        "journal_id": line.journal_id, "reversal_journal_id": None, "cancelled_at": None,
        "entitlement_ids": [str(e) for e in line.entitlement_ids],
    }  # fmt: skip


def _revenue_row(service_id: UUID, purchase_id: UUID, revenue: Revenue) -> dict[str, object]:
    return {
        "id": uuid7(), "service_id": service_id, "purchase_id": purchase_id,
        "line_id": revenue.line_id, "cp_id": revenue.cp_id, "product_id": revenue.product_id,
        "amount": revenue.amount, "at": revenue.at,
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


# --- use-cancellation -----------------------------------------------------------------------


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
    _lock(conn, member.id, found.recipient_id)
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
    if negated:
        conn.execute(_insert_revenue, [_revenue_row(service.id, found.id, r) for r in negated])
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


# --- reads ----------------------------------------------------------------------------------


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
    )  # fmt: skip
