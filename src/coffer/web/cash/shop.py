"""The shop and "My items" on the cash web.

- ``GET /cash/shop``: the menu (visible categories); ``GET /cash/shop/categories/{id}``: a
  category's subcategories and the products on sale in it;
- ``GET /cash/shop/products/{id}``: a product (name, description, what it gives, the price);
- ``GET /cash/shop/products/{id}/confirm?quantity=N[&coupon=CODE]``: the quote (list price,
  each discount that applied and why, the coupon's part, the total, what it draws from bonus
  and paid cash), the balance now and after, a coupon box (a refused coupon's reason beside
  it) and the "buy" button, whose form carries a fresh key, the coupon and the total;
- ``POST /cash/shop/products/{id}/buy`` (CSRF, ``quantity``, ``key``, ``total``, ``coupon``):
  the purchase at exactly that total, once per key (a double submit finds the first
  purchase), then ``303`` to its page;
- ``GET /cash/shop/purchases/{id}``: a purchase of the member's, with what it granted;
- ``GET /cash/items``: "My items": passes with their end times, quantities, play time, items,
  and the latest purchases.

Everything is scoped to the signed-in member and their service: another member's purchase,
another service's product or category, a hidden category or a product not on sale is a 404
page. A refused purchase (not enough cash, over the purchase limit, …) shows the confirmation
again with the reason, and nothing is bought.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.coupons import redeeming
from coffer.kernel.errors import CofferError, NotFound, RateLimited
from coffer.kernel.ids import uuid7
from coffer.pricing.choice import percent
from coffer.pricing.model import Effect
from coffer.purchases.model import MAX_LINE_QUANTITY
from coffer.tenancy.cash_sessions import CashSession
from coffer.web.admin.desk.common import parse_id
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.admin.rendering import translator
from coffer.web.cash import coupon_views, shop_views
from coffer.web.cash.context import current_session, runtime
from coffer.web.cash.pages import member_form, member_page
from coffer.web.cash.problems import problem
from coffer.web.formatting import money

router = APIRouter()


def _quantity(raw: str, _: Gettext) -> int:
    value = raw.strip() or "1"
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise FormError("quantity", _("Enter how many, as a whole number."))
    quantity = int(value)
    if not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise FormError(
            "quantity", _("Choose from 1 to %(max)s at a time.") % {"max": MAX_LINE_QUANTITY}
        )
    return quantity


def _page(
    request: Request,
    session: CashSession,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    response = member_page(request, session, name, {"tab": "shop", **context})
    response.status_code = status_code
    return response


@router.get("/shop")
def shop_home(request: Request) -> HTMLResponse:
    """The menu: visible categories and their subcategories."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    rt = runtime(request)
    now = rt.clock.now()
    view = rt.db.read(lambda conn: shop_views.menu(conn, session.service.id, now))
    return _page(request, session, "cash/shop.html", {"menu": view})


@router.get("/shop/categories/{category_id}")
def shop_category(request: Request, category_id: str) -> HTMLResponse:
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    cid = parse_id(category_id)
    if cid is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    try:
        view = rt.db.read(lambda conn: shop_views.category_page(conn, session.service.id, cid, now))
    except NotFound:
        return problem(request, "not_found", 404)
    return _page(request, session, "cash/shop_category.html", {"view": view})


@router.get("/shop/products/{product_id}")
def shop_product(request: Request, product_id: str) -> HTMLResponse:
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    return _product(request, session, product_id)


def _product(
    request: Request,
    session: CashSession,
    product_id: str,
    *,
    errors: dict[str, str] | None = None,
    quantity: str = "1",
    status_code: int = 200,
) -> HTMLResponse:
    pid = parse_id(product_id)
    if pid is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    try:
        view = rt.db.read(lambda conn: shop_views.product_page(conn, session, pid, now))
    except NotFound:
        return problem(request, "not_found", 404)
    context = {"view": view, "errors": errors or {}, "quantity": quantity}
    return _page(request, session, "cash/shop_product.html", context, status_code)


@router.get("/shop/products/{product_id}/confirm")
def shop_confirm(
    request: Request, product_id: str, quantity: str = "1", coupon: str = ""
) -> HTMLResponse:
    """The quote, the balance now and the balance after, the coupon box and the button."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    try:
        count = _quantity(quantity, translator(request))
    except FormError as error:
        return _product(
            request, session, product_id, errors={"quantity": error.message},
            quantity=quantity, status_code=422,
        )  # fmt: skip
    return _confirm(request, session, product_id, count, coupon=coupon)


def _confirm(
    request: Request,
    session: CashSession,
    product_id: str,
    quantity: int,
    *,
    coupon: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pid = parse_id(product_id)
    if pid is None:
        return problem(request, "not_found", 404)
    try:
        quote = _confirmation(request, session, pid, quantity, coupon)
    except NotFound:
        return problem(request, "not_found", 404)
    except CofferError as refused:  # cannot be bought now: the product page says why
        message = explain(refused, session.service.currency, translator(request))
        return _product(
            request, session, product_id, errors={"quantity": message}, quantity=str(quantity),
            status_code=refused.status,
        )  # fmt: skip
    _ = translator(request)
    service = session.service
    coupon_error = None
    if quote.coupon_error is not None:
        coupon_error = coupon_views.refusal(quote.coupon_error, service.timezone, _)
        status_code = status_code if status_code != 200 else quote.coupon_error.status
    context = {
        "quote": quote, "key": uuid7().hex, "error": error, "coupon_error": coupon_error,
        "reason": reason_words(service.currency, _),
    }  # fmt: skip
    return _page(request, session, "cash/shop_confirm.html", context, status_code)


def _confirmation(
    request: Request, session: CashSession, product_id: UUID, quantity: int, coupon: str
) -> shop_views.Confirmation:
    """The confirmation; a typed coupon is tried under the member's attempt limit, as on the
    Coupons tab, so guessing codes in this box gets the same 429 (concurrent tries included)."""
    rt = runtime(request)
    now = rt.clock.now()

    def read(code: str) -> shop_views.Confirmation:
        return rt.db.read(
            lambda conn: shop_views.confirmation(
                conn, session, product_id, quantity, now, coupon=code
            )
        )

    if not coupon:
        return read("")
    seen: list[shop_views.Confirmation] = []

    def attempt() -> shop_views.Confirmation:
        seen.append(read(coupon))
        if seen[-1].coupon_error is not None:
            raise seen[-1].coupon_error  # counted, or not, by its code
        return seen[-1]

    member = session.member
    try:
        return redeeming.with_attempt_limit(rt.db, member.service_id, member.id, now, attempt)
    except RateLimited as limited:
        return replace(read(""), refused_coupon=coupon, coupon_error=limited)
    except CofferError:
        if seen:
            return seen[-1]
        raise


def reason_words(currency: str, _: Gettext) -> Callable[[Effect | None, bool, str], str]:
    """A function saying what a rule took off, in the member's language, from its effect
    (the English ``fallback`` when there is none)."""

    def say(effect: Effect | None, capped: bool, fallback: str) -> str:
        if effect is None:
            return fallback
        if effect.kind == "percent_off":
            words = _("%(percent)s off") % {"percent": percent(effect.value)}
        elif effect.kind == "amount_off":
            words = _("%(amount)s off each") % {"amount": money(effect.value, currency)}
        elif effect.kind == "fixed_price":
            words = _("%(amount)s each") % {"amount": money(effect.value, currency)}
        else:
            words = _("buy %(buy)s, get %(get)s free") % {"buy": effect.buy, "get": effect.get}
        if capped:
            return _("%(reason)s (up to the promotion's budget)") % {"reason": words}
        return words

    return say


def explain(error: CofferError, code: str, _: Gettext, timezone: str = "Asia/Seoul") -> str:
    """A refused purchase, in the member's words."""
    details = error.details
    known = {
        "insufficient_funds": _("You do not have enough cash for this. Charge cash first."),
        "purchase_limit_exceeded": _("You have reached the purchase limit for this product."),
        "product_not_on_sale": _("This product is no longer on sale."),
        "product_not_purchasable": _("This product cannot be bought now."),
        "member_suspended": _("You cannot buy now. Contact customer support."),
        "member_closed": _("You cannot buy now. Contact customer support."),
        "form_expired": _("This page has expired. Check the price again and buy from here."),
        "invalid_quantity": _("Choose from 1 to %(max)s at a time.") % {"max": MAX_LINE_QUANTITY},
    }
    if error.code == "price_changed" and isinstance(details.get("total"), int):
        return _("The price has changed: it is now %(amount)s. Check it and buy again.") % {
            "amount": money(details["total"], code)
        }
    if error.code.startswith("coupon_") or error.code == "invalid_coupon_code":
        return _("The coupon could not be used: %(reason)s") % {
            "reason": coupon_views.refusal(error, timezone, _)
        }
    return known.get(error.code) or _("The purchase could not be made. Please try again.")


@router.post("/shop/products/{product_id}/buy")
async def shop_buy(request: Request, product_id: str) -> Response:
    """Buy what the member confirmed; once per confirmation form."""
    posted = await member_form(request)
    if isinstance(posted, Response):
        return posted
    session, values = posted
    pid = parse_id(product_id)
    if pid is None:
        return problem(request, "not_found", 404)
    _ = translator(request)
    try:
        quantity = _quantity(text(values, "quantity"), _)
        total = int(text(values, "total")) if text(values, "total").isdigit() else -1
    except FormError as error:
        return _product(
            request, session, product_id, errors={"quantity": error.message},
            quantity=text(values, "quantity"), status_code=422,
        )  # fmt: skip
    rt = runtime(request)
    now = rt.clock.now()
    key, coupon = text(values, "key"), text(values, "coupon")

    def work(conn: Connection) -> UUID:
        return shop_views.buy(
            conn, session, pid, quantity, key=key, confirmed_total=total, coupon=coupon, now=now
        )

    try:
        purchase_id = redeeming.with_attempt_limit(
            rt.db, session.service.id, session.member.id, now, lambda: rt.db.write(work)
        )
    except CofferError as error:
        if error.code in ("not_found", "product_not_found"):
            return problem(request, "not_found", 404)
        message = explain(error, session.service.currency, _, session.service.timezone)
        return _confirm(
            request, session, product_id, quantity, coupon=coupon, error=message,
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/cash/shop/purchases/{purchase_id}", status_code=303)


@router.get("/shop/purchases/{purchase_id}")
def shop_purchase(request: Request, purchase_id: str) -> HTMLResponse:
    """A purchase of the member's: what was paid and what it gave."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    found = parse_id(purchase_id)
    if found is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    try:
        view = rt.db.read(lambda conn: shop_views.my_purchase(conn, session, found, now))
    except NotFound:
        return problem(request, "not_found", 404)
    context = {"view": view, "now": now,
               "reason": reason_words(session.service.currency, translator(request))}  # fmt: skip
    return _page(request, session, "cash/shop_result.html", context)


@router.get("/items")
def my_items(request: Request) -> HTMLResponse:
    """Passes with their end times, quantities, play time and items; the latest purchases."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    rt = runtime(request)
    now = rt.clock.now()
    view = rt.db.read(lambda conn: shop_views.my_items(conn, session, now))
    return _page(
        request, session, "cash/shop_items.html", {"view": view, "now": now, "tab": "items"}
    )
