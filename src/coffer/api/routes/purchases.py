"""Purchases: buy catalog products (or rate-card play time) with cash, read them, cancel them.

Buying and cancelling move cash and take an ``Idempotency-Key``. A purchase is all or nothing:
the cash, the entitlements, the revenue rows and the ``purchase.completed`` webhook commit
together, or a refusal changes nothing. The rules are in ``docs/purchases.md``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.fields import Cursor, Limit, member_key, object_id
from coffer.api.idempotency import IdempotentDep
from coffer.api.purchase_bodies import (
    CancelCreate,
    PurchaseCreate,
    PurchaseList,
    PurchaseOut,
    PurchaseResult,
    TimeCreate,
)
from coffer.api.responses import BalanceOut
from coffer.api.routes.quotes import with_coupon_limit
from coffer.entitlements import grants
from coffer.kernel.errors import NotFound
from coffer.ledger import queries
from coffer.purchases import buying, cancelling, records
from coffer.purchases.model import Purchase
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service

router = APIRouter(tags=["purchases"])


def _purchase_id(value: str) -> UUID:
    return object_id(value, "purchase_not_found", "No such purchase in this service.")


def _out(conn: Connection, service: Service, purchase: Purchase, *known: Member) -> PurchaseOut:
    names = {member.id: member.external_id for member in known}
    for member_id in (purchase.member_id, purchase.recipient_id):
        if member_id not in names:
            names[member_id] = tenancy.get_member_by_id(conn, service.id, member_id).external_id
    granted = {line.id: grants.line_entitlements(conn, line.id) for line in purchase.lines}
    return PurchaseOut.of(
        purchase,
        member=names[purchase.member_id],
        recipient=names[purchase.recipient_id],
        currency=service.currency,
        entitlements=granted,
    )


def _result(
    conn: Connection, service: Service, purchase: Purchase, *known: Member
) -> PurchaseResult:
    out = _out(conn, service, purchase, *known)
    balance = queries.balance(conn, purchase.member_id, purchase.updated_at)
    return PurchaseResult(**dict(out), balance=BalanceOut.of(balance))


@router.post("/purchases", status_code=201, response_model=PurchaseResult)
def create_purchase(body: PurchaseCreate, call: IdempotentDep) -> JSONResponse:
    """Buy products for the member or as a gift (`gift_to`), priced like `POST /quotes`:
    list price less the live discount policies and the discount `coupon` (used up by it).

    The stored `quote` lists every rule that applied (id, version, name, amount, reason); each
    line has its list `unit_price`, its `discount` and the `amount` paid.

    404 `member_not_found`, `product_not_found` (also another service's product),
    `recipient_not_found`, `coupon_not_found`; 409 `member_suspended`, `member_closed`,
    `recipient_closed`, `product_not_on_sale` (also outside its sale window),
    `product_not_purchasable` (metered), `purchase_limit_exceeded`, `price_changed` (not the
    `expected_total`; details: total), `coupon_not_applicable` (it takes nothing off these
    lines), the coupon's refusals (`coupon_expired`, `coupon_already_redeemed`, …); 422
    `invalid_product`, `invalid_quantity`, `invalid_lines`, `invalid_coupon_code`,
    `invalid_expected_total`, `invalid_amount` (a total above the largest amount),
    `insufficient_funds` (details: requested, available).
    """
    service = call.caller.service

    def work(conn: Connection) -> PurchaseResult:
        buyer = app.member_wallet(conn, service, body.member, spending=True)
        gift_to = _recipient(conn, service, body.gift_to)
        made = buying.purchase(
            conn, service, buyer, [(line.product, line.quantity) for line in body.lines],
            gift_to=gift_to, actor=call.caller.actor, now=call.now, coupon=body.coupon,
            expected_total=body.expected_total,
        )  # fmt: skip
        return _result(conn, service, made, buyer[0], *([gift_to] if gift_to else []))

    return with_coupon_limit(
        call.runtime.db, service, body.member, body.coupon, call.now, lambda: call.run(work)
    )


def _recipient(conn: Connection, service: Service, external_id: str | None) -> Member | None:
    if external_id is None:
        return None
    try:
        return tenancy.get_member(conn, service.id, external_id)
    except NotFound:
        raise NotFound("recipient_not_found", "No such recipient in this service.") from None


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut)
def get_purchase(purchase_id: str, caller: CallerDep, runtime: RuntimeDep) -> PurchaseOut:
    """A purchase with its lines, the lots each line drew, what it granted and its revenue."""
    pid = _purchase_id(purchase_id)

    def read(conn: Connection) -> PurchaseOut:
        return _out(conn, caller.service, records.get_purchase(conn, caller.service.id, pid))

    return runtime.db.read(read)


@router.get("/members/{external_id}/purchases", response_model=PurchaseList)
def member_purchases(
    external_id: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor | None, Query(description="`next_cursor` of a page.")] = None,
) -> PurchaseList:
    """What the member bought or received as a gift, newest first."""
    key = member_key(external_id)

    def read(conn: Connection) -> PurchaseList:
        member = tenancy.get_member(conn, caller.service.id, key)
        rows = records.member_purchases(
            conn, caller.service.id, member.id, before=cursor, limit=limit + 1
        )
        page = rows[:limit]
        return PurchaseList(
            data=[_out(conn, caller.service, p, member) for p in page],
            next_cursor=str(page[-1].id) if len(rows) > limit else None,
        )

    return runtime.db.read(read)


@router.post("/purchases/{purchase_id}/cancel", response_model=PurchaseResult)
def cancel_purchase(purchase_id: str, body: CancelCreate, call: IdempotentDep) -> JSONResponse:
    """Cancel the purchase, or some of its lines, whole: cash back to the lots it came from.

    404 `purchase_not_found`, `purchase_line_not_found`; 409 `line_already_cancelled`,
    `cancel_window_closed`, `purchase_line_in_use` (a used line is refused, never pro-rated),
    `member_closed`.
    """
    pid = _purchase_id(purchase_id)
    service = call.caller.service

    def work(conn: Connection) -> PurchaseResult:
        member_id = records.purchase_member_id(conn, service.id, pid)
        buyer = app.member_wallet_by_id(conn, service, member_id, spending=False)
        cancelled = cancelling.cancel(
            conn, service, pid, body.lines, buyer=buyer, actor=call.caller.actor,
            reason=body.reason, now=call.now,
        )  # fmt: skip
        return _result(conn, service, cancelled, buyer[0])

    return call.run(work, status=200)


@router.post("/members/{external_id}/time", status_code=201, response_model=PurchaseResult)
def buy_time(external_id: str, body: TimeCreate, call: IdempotentDep) -> JSONResponse:
    """Buy play time with `amount` of cash at the service's rate card (one line of minutes).

    409 `no_time_rate`, `member_suspended`; 422 `amount_not_whole_minutes`,
    `insufficient_funds`.
    """
    key = member_key(external_id)
    service = call.caller.service

    def work(conn: Connection) -> PurchaseResult:
        buyer = app.member_wallet(conn, service, key, spending=True)
        made = buying.buy_minutes(
            conn, service, buyer, body.amount, actor=call.caller.actor, now=call.now
        )
        return _result(conn, service, made, buyer[0])

    return call.run(work)
