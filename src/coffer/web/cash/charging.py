"""Charging cash from the cash web, the member's charges, and refund requests.

- ``GET /cash/charge``: pick an amount (presets or typed) and one of the methods the service's
  routing offers now; ``GET /cash/charge/confirm``: the amount and the balance after;
- ``POST /cash/charge``: open the charge (``app.create_charge``) and send the browser to its
  PG checkout (``/pg/checkout/{id}``). The PG brings the member back through Coffer to
  ``GET /cash/charge/done?charge_id=…`` (the charge's ``return_url``), which shows that charge;
- ``GET /cash/charges``: the member's charges; ``GET /cash/charges/{id}``: one charge, read
  from the database (the page polls ``…/live`` every 2 s while the PG has not settled it);
- ``POST /cash/charges/{id}/refund``: a refund of all the charge's unspent cash, with a reason.

Every charge is looked up within the signed-in member's own charges: another member's is a 404.
POSTs carry the session's CSRF token (form field ``csrf_token``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer import app
from coffer.kernel.errors import CofferError, NotFound
from coffer.payments import refunds
from coffer.payments.charge_search import member_charge
from coffer.payments.refunds import Refund
from coffer.tenancy.cash_sessions import CashSession
from coffer.web.admin.desk.common import parse_id
from coffer.web.admin.desk.forms import FormError, FormState
from coffer.web.admin.rendering import translator
from coffer.web.cash import charge_forms, charge_views
from coffer.web.cash.context import current_session, runtime
from coffer.web.cash.pages import member_form, member_page, session_ended
from coffer.web.cash.problems import problem

router = APIRouter()

#: Seconds between polls of a charge the PG has not settled yet.
CHARGE_POLL_SECONDS = 2


def _choose(
    request: Request,
    session: CashSession,
    values: dict[str, Any] | None = None,
    error: FormError | None = None,
    status_code: int = 200,
    choice: charge_views.ChargeChoice | None = None,
) -> HTMLResponse:
    """The amount-and-method form, with the values typed and an error when there is one."""
    if choice is None:
        rt = runtime(request)
        now = rt.clock.now()
        choice = rt.db.read(lambda conn: charge_views.charge_choice(conn, session, now))
    state = FormState.failed(values or {}, error) if error else FormState(dict(values or {}))
    response = member_page(
        request,
        session,
        "cash/charge.html",
        {
            "choice": choice,
            "form": state,
            "presets": charge_forms.presets(session.service.currency),
            "tab": "charge",
        },
    )
    response.status_code = status_code
    return response


@router.get("/charge")
def charge_form(request: Request) -> HTMLResponse:
    """Pick an amount and a method (values come back from the confirm step's "change")."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    return _choose(request, session, dict(request.query_params))


@router.get("/charge/confirm")
def confirm(request: Request) -> HTMLResponse:
    """The amount, the method and the balance after, before the member goes to the PG."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    values = dict(request.query_params)
    rt = runtime(request)
    now = rt.clock.now()
    choice = rt.db.read(lambda conn: charge_views.charge_choice(conn, session, now))
    code = session.service.currency
    try:
        order = charge_forms.charge_order(values, code, choice.methods, translator(request))
    except FormError as error:
        return _choose(request, session, values, error, 422, choice)
    return member_page(
        request,
        session,
        "cash/charge_confirm.html",
        {
            "choice": choice,
            "order": order,
            "major": order.major(code),
            "preset_values": charge_forms.PRESETS,
            "tab": "charge",
        },
    )


@router.post("/charge")
async def start_charge(request: Request) -> Response:
    """Open the charge and hand the browser to the PG's checkout page."""
    posted = await member_form(request)
    if isinstance(posted, Response):
        return posted
    session, values = posted
    rt = runtime(request)
    now = rt.clock.now()
    _ = translator(request)
    service = session.service
    return_url = str(request.url_for("cash_charge_done"))
    try:
        methods = rt.db.read(lambda conn: charge_views.offered_methods(conn, service.id, now))
        order = charge_forms.charge_order(values, service.currency, methods, _)
        charge = rt.db.write(
            lambda conn: app.create_charge(
                conn, service, session.member.external_id, amount=order.amount,
                method=order.method, pg=None, return_url=return_url, now=now,
            )
        )  # fmt: skip
    except FormError as error:
        return _choose(request, session, values, error, 422)
    except CofferError as error:
        field = charge_forms.CHARGE_ERROR_FIELDS.get(error.code, "form")
        refused = FormError(field, charge_forms.explain(error, service.currency, _))
        return _choose(request, session, values, refused, error.status)
    checkout = request.url_for("pg_checkout", charge_id=str(charge.id))
    return RedirectResponse(str(checkout), status_code=303)


@router.get("/charge/done", name="cash_charge_done")
def charge_done(request: Request, charge_id: str = "") -> Response:
    """Where the PG's return lands: on to the charge's page (its ``status`` is not trusted)."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    cid = parse_id(charge_id)
    if cid is None:
        return problem(request, "not_found", 404)
    return RedirectResponse(f"/cash/charges/{cid}", status_code=303)


@router.get("/charges")
def charges_list(request: Request, before: str = "") -> HTMLResponse:
    """The member's charges, newest first, 20 a page."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    cursor = parse_id(before) if before else None
    if before and cursor is None:
        return problem(request, "bad_request", 400)
    rt = runtime(request)
    now = rt.clock.now()
    mine = rt.db.read(lambda conn: charge_views.my_charges(conn, session, cursor, now))
    return member_page(request, session, "cash/charge_list.html", {"mine": mine, "tab": "charge"})


def _show_charge(
    request: Request,
    session: CashSession,
    charge_id: str,
    *,
    template: str = "cash/charge_result.html",
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    cid = parse_id(charge_id)
    if cid is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    try:
        view = rt.db.read(lambda conn: charge_views.my_charge(conn, session, cid, now))
    except NotFound:
        return problem(request, "not_found", 404)
    values = {
        "view": view,
        "charge_poll_seconds": CHARGE_POLL_SECONDS,
        "tab": "charge",
        **(context or {}),
    }
    response = member_page(request, session, template, values)
    response.status_code = status_code
    return response


@router.get("/charges/{charge_id}")
def charge_page(request: Request, charge_id: str) -> HTMLResponse:
    """The charge as the database has it: approved, failed, waiting for a deposit, or not yet."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    requested = request.query_params.get("refund") == "requested"
    return _show_charge(request, session, charge_id, context={"refund_requested": requested})


@router.get("/charges/{charge_id}/live")
def charge_live(request: Request, charge_id: str) -> HTMLResponse:
    """The charge's state alone, for htmx to poll (polls are not activity)."""
    session = current_session(request)
    if session is None:
        return session_ended(request, "cash/charge_status.html")
    return _show_charge(request, session, charge_id, template="cash/charge_status.html")


@router.post("/charges/{charge_id}/refund")
async def request_refund(request: Request, charge_id: str) -> Response:
    """Refund all of the charge's unspent cash; a refusal shows the page with why."""
    posted = await member_form(request)
    if isinstance(posted, Response):
        return posted
    session, values = posted
    cid = parse_id(charge_id)
    if cid is None:
        return problem(request, "not_found", 404)
    rt = runtime(request)
    now = rt.clock.now()
    _ = translator(request)
    service = session.service
    actor = f"member:{session.member.external_id}"

    def work(conn: Connection, reason: str) -> Refund:
        charge = member_charge(conn, service.id, session.member.id, cid)
        return refunds.request_refund(
            conn, service.id, charge.id, amount=None, reason=reason, actor=actor, now=now,
            timezone=service.timezone, resolve=app.resolve_wallet,
        )  # fmt: skip

    try:
        reason = charge_forms.refund_reason(values, _)
        rt.db.write(lambda conn: work(conn, reason))
    except FormError as error:
        state = FormState.failed(values, error)
        return _show_charge(request, session, charge_id, context={"form": state}, status_code=422)
    except NotFound:
        return problem(request, "not_found", 404)
    except CofferError as error:
        field = "reason" if error.code == "invalid_reason" else "form"
        if error.code == "bonus_spent_blocks_refund":
            message = _("This charge's bonus has been used, so it cannot be refunded.")
        else:
            message = charge_forms.explain(error, service.currency, _)
        state = FormState.failed(values, FormError(field, message))
        return _show_charge(
            request, session, charge_id, context={"form": state}, status_code=error.status
        )
    return RedirectResponse(f"/cash/charges/{cid}?refund=requested", status_code=303)
