"""The "Coupons" tab of the cash web.

- ``GET /cash/coupons``: a box to redeem a code, and the member's coupons: the codes issued to
  them (unused, then used or no longer valid) and their redemptions with what each gave;
  ``?redeemed=<id>`` shows what the redemption just made gave;
- ``POST /cash/coupons/redeem`` (CSRF, ``code``, ``key``): redeem a cash or product coupon, once
  per form (a double submit finds the first redemption), then ``303`` to the tab. A discount
  coupon answers "use this code at checkout". A refusal shows the tab again with the reason
  beside the box, and nothing changes: ``422``/``404``/``409`` by the refusal, ``429`` after too
  many codes that did not work (the per-member rate limit).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError
from coffer.kernel.ids import uuid7
from coffer.pricing.choice import percent
from coffer.tenancy.cash_sessions import CashSession
from coffer.web.admin.desk.common import parse_id
from coffer.web.admin.desk.forms import text
from coffer.web.admin.rendering import translator
from coffer.web.cash import coupon_views
from coffer.web.cash.context import current_session, runtime
from coffer.web.cash.pages import member_form, member_page
from coffer.web.cash.problems import problem

router = APIRouter()


def _tab(
    request: Request,
    session: CashSession,
    *,
    redeemed: str = "",
    code: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rt = runtime(request)
    now = rt.clock.now()
    view = rt.db.read(lambda conn: coupon_views.coupons_page(conn, session, now))
    context = {
        "tab": "coupons", "view": view, "key": uuid7().hex, "code": code, "error": error,
        "redeemed": view.redemption(parse_id(redeemed) if redeemed else None),
        "shown_code": coupon_views.shown_code, "percent": percent, "now": now,
    }  # fmt: skip
    response = member_page(request, session, "cash/coupons.html", context)
    response.status_code = status_code
    return response


@router.get("/coupons")
def coupons_tab(request: Request, redeemed: str = "") -> HTMLResponse:
    """The redeem box and the member's coupons."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    return _tab(request, session, redeemed=redeemed)


@router.post("/coupons/redeem")
async def coupons_redeem(request: Request) -> Response:
    """Redeem the code typed, once per form."""
    posted = await member_form(request)
    if isinstance(posted, Response):
        return posted
    session, values = posted
    code, key = text(values, "code"), text(values, "key")
    rt = runtime(request)
    try:
        redemption_id = coupon_views.redeem(rt.db, session, code, key=key, now=rt.clock.now())
    except CofferError as error:
        _ = translator(request)
        message = coupon_views.refusal(error, session.service.timezone, _)
        return _tab(request, session, code=code, error=message, status_code=error.status)
    return RedirectResponse(f"/cash/coupons?redeemed={redemption_id}", status_code=303)
