"""The hosted checkout page: GET shows the method's form, POST authorises and redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from coffer.sandbox_pg.checkout_forms import (
    CheckoutRequest,
    FormProblem,
    NeedsOtp,
    authorise,
    parse_request,
)
from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.http_common import sandbox
from coffer.sandbox_pg.model import BANKS

router = APIRouter()
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@router.get("/checkout", response_model=None)
async def show(request: Request) -> Response:
    try:
        checkout = parse_request(request.query_params)
        merchant_name = await run_in_threadpool(_start, request, checkout)
    except PgError as exc:
        if exc.code == "DUPLICATED_ORDER_ID" and "checkout" in locals():
            return _fail_redirect(checkout, exc)
        return _error(request, exc)
    return _page(checkout, merchant_name, {})


@router.post("/checkout", response_model=None)
async def submit(request: Request) -> Response:
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    try:
        checkout = parse_request(form)
        merchant_name = await run_in_threadpool(_start, request, checkout)
    except PgError as exc:
        if exc.code == "DUPLICATED_ORDER_ID" and "checkout" in locals():
            return _fail_redirect(checkout, exc)
        return _error(request, exc)
    box = sandbox(request)
    try:
        result = authorise(checkout.order.method, form, box.clock.now())
    except FormProblem as problem:
        return _page(checkout, merchant_name, form, problem=str(problem))
    if isinstance(result, NeedsOtp):
        return _page(checkout, merchant_name, form, otp_step=True, phone=result.phone)
    merchant = await run_in_threadpool(box.checkout_merchant, checkout.client_key)
    try:
        row = await run_in_threadpool(
            box.record_checkout, merchant["merchant_id"], checkout.order, result
        )
    except PgError as exc:
        return _fail_redirect(checkout, exc)
    if result.failure is not None:
        code, message = result.failure
        return _fail_redirect(checkout, PgError(code, message))
    return RedirectResponse(
        _with_query(
            checkout.success_url,
            {
                "paymentKey": row["payment_key"],
                "orderId": checkout.order.order_id,
                "amount": str(checkout.order.amount),
            },
        ),
        status_code=303,
    )


def _start(request: Request, checkout: CheckoutRequest) -> str:
    box = sandbox(request)
    merchant = box.checkout_merchant(checkout.client_key)
    box.check_order_free(merchant["merchant_id"], checkout.order.order_id)
    return str(merchant["name"])


def _page(
    checkout: CheckoutRequest, merchant_name: str, form: dict[str, str], **extra: Any
) -> HTMLResponse:
    html = templates.get_template("checkout.html").render(
        order=checkout.order,
        method=checkout.order.method.value,
        merchant_name=merchant_name,
        hidden=checkout.hidden_fields(),
        banks=BANKS,
        form=form,
        problem=extra.get("problem"),
        otp_step=extra.get("otp_step", False),
        phone=extra.get("phone", ""),
    )
    return HTMLResponse(html)


def _error(request: Request, exc: PgError) -> Response:
    status = exc.status if 400 <= exc.status < 500 else 400
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=status)
    html = templates.get_template("error.html").render(code=exc.code, message=exc.message)
    return HTMLResponse(html, status_code=status)


def _fail_redirect(checkout: CheckoutRequest, exc: PgError) -> RedirectResponse:
    url = _with_query(
        checkout.fail_url,
        {"code": exc.code, "message": exc.message, "orderId": checkout.order.order_id},
    )
    return RedirectResponse(url, status_code=303)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
