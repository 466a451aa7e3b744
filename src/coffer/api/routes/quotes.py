"""Quotes: what some lines would cost a member now, explained, without buying anything.

A quote is priced exactly as a purchase is (``docs/pricing.md``, "Quotes and purchases"): the
same checks of the lines, the live discount policies, a discount coupon. It writes nothing,
so it takes no ``Idempotency-Key``; the coupon is not used up.

A coupon refused for its code (not found, malformed, …) counts as a failed coupon attempt,
here as in ``POST /purchases`` and the redemption endpoint: guessing codes through quotes gets
429 ``too_many_coupon_attempts`` like any other guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from fastapi import APIRouter
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.purchase_bodies import QuoteCreate, QuoteOut
from coffer.coupons import redeeming
from coffer.db.transaction import Database
from coffer.kernel.errors import NotFound
from coffer.pricing.engine import quote_json
from coffer.purchases import quoting
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service

T = TypeVar("T")

router = APIRouter(tags=["purchases"])


def with_coupon_limit(
    db: Database, service: Service, external_id: str, coupon: str | None, now: datetime,
    attempt: Callable[[], T],
) -> T:  # fmt: skip
    """Run ``attempt`` (its own transaction); with a ``coupon``, under the member's coupon
    attempt limit (a refusal for the code is recorded as a failed attempt)."""
    if coupon is None:
        return attempt()
    try:
        member = db.read(lambda conn: tenancy.get_member(conn, service.id, external_id))
    except NotFound:
        return attempt()  # refused as the request's own
    return redeeming.with_attempt_limit(db, service.id, member.id, now, attempt)


@router.post("/quotes", response_model=QuoteOut)
def create_quote(body: QuoteCreate, caller: CallerDep, runtime: RuntimeDep) -> QuoteOut:
    """The price of `lines` for the member now: per line the list price, every rule that took
    something off (id, version, name, amount, reason), the total, the live rules that did not
    apply and why (`skipped`), and what the total would draw from bonus and paid cash.

    Refused like `POST /purchases`: 404 `member_not_found`, `product_not_found`,
    `coupon_not_found`; 409 `member_suspended`, `member_closed`, `product_not_on_sale`,
    `product_not_purchasable`, the coupon's refusals (`coupon_expired`, …); 422
    `invalid_product`, `invalid_quantity`, `invalid_lines`, `invalid_coupon_code`,
    `invalid_amount` (a total above the largest amount). Purchase limits and funds are not
    refused here (`cash.short` says what is missing).
    """
    service = caller.service
    now = runtime.clock.now()

    def read(conn: Connection) -> QuoteOut:
        member, wallet = app.member_wallet(conn, service, body.member, spending=True)
        priced = quoting.quote(
            conn, service, member, wallet, [(line.product, line.quantity) for line in body.lines],
            coupon_code=body.coupon, now=now,
        )  # fmt: skip
        return QuoteOut.model_validate(
            {"member": member.external_id, "currency": service.currency, **quote_json(priced)}
        )

    return with_coupon_limit(
        runtime.db, service, body.member, body.coupon, now, lambda: runtime.db.read(read)
    )
