"""The shop and "My items" on the cash web.

- ``GET /cash/shop``: the menu (visible categories); ``GET /cash/shop/categories/{id}``: a
  category's subcategories and the products on sale in it;
- ``GET /cash/shop/products/{id}``: a product (name, description, what it gives, the price);
- ``GET /cash/shop/products/{id}/confirm?quantity=N``: the price, the balance now and after,
  and the "buy" button, whose form carries a fresh key;
- ``POST /cash/shop/products/{id}/buy`` (CSRF, ``quantity``, ``key``, ``total``): the purchase,
  once per key (a double submit finds the first purchase), then ``303`` to its page;
- ``GET /cash/shop/purchases/{id}``: a purchase of the member's, with what it granted;
- ``GET /cash/items``: "My items": passes with their end times, quantities, play time, items,
  and the latest purchases.

Everything is scoped to the signed-in member and their service: another member's purchase,
another service's product or category, a hidden category or a product not on sale is a 404
page. A refused purchase (not enough cash, over the purchase limit, …) shows the confirmation
again with the reason, and nothing is bought.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.ids import uuid7
from coffer.purchases.model import MAX_LINE_QUANTITY
from coffer.tenancy.cash_sessions import CashSession
from coffer.web.admin.desk.common import parse_id
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.admin.rendering import translator
from coffer.web.cash import shop_views
from coffer.web.cash.context import current_session, posted_form, runtime
from coffer.web.cash.pages import member_page
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
def shop_confirm(request: Request, product_id: str, quantity: str = "1") -> HTMLResponse:
    """The price, the balance now and the balance after, and the button that buys."""
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
    return _confirm(request, session, product_id, count)


def _confirm(
    request: Request,
    session: CashSession,
    product_id: str,
    quantity: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pid = parse_id(product_id)
    if pid is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    try:
        quote = rt.db.read(lambda conn: shop_views.confirmation(conn, session, pid, quantity, now))
    except NotFound:
        return problem(request, "not_found", 404)
    if not quote.view.buyable:
        return problem(request, "not_found", 404)
    context = {"quote": quote, "key": uuid7().hex, "error": error}
    return _page(request, session, "cash/shop_confirm.html", context, status_code)


def explain(error: CofferError, code: str, _: Gettext) -> str:
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
    return known.get(error.code) or _("The purchase could not be made. Please try again.")


@router.post("/shop/products/{product_id}/buy")
async def shop_buy(request: Request, product_id: str) -> Response:
    """Buy what the member confirmed; once per confirmation form."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    values = await posted_form(request, session)
    if values is None:
        return problem(request, "csrf_failed", 403)
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
    key = text(values, "key")
    try:
        purchase_id = rt.db.write(
            lambda conn: shop_views.buy(
                conn, session, pid, quantity, key=key, confirmed_total=total, now=now
            )
        )
    except NotFound:
        return problem(request, "not_found", 404)
    except CofferError as error:
        message = explain(error, session.service.currency, _)
        return _confirm(
            request, session, product_id, quantity, error=message, status_code=error.status
        )
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
    return _page(request, session, "cash/shop_result.html", {"view": view, "now": now})


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
