"""Coming in through a signed link, and signing out.

``GET /cash/enter`` checks the link (``coffer.tenancy.links``) and opens a session; every refusal
is a page with a 4xx status and writes nothing. ``POST /cash/logout`` needs the session's CSRF
token (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError
from coffer.tenancy import cash_sessions
from coffer.web.cash.context import (
    CSRF_FIELD,
    CSRF_HEADER,
    clear_session_cookie,
    cookie_token,
    csrf_ok,
    current_session,
    private,
    read_form,
    runtime,
    set_session_cookie,
)
from coffer.web.cash.problems import from_error, problem
from coffer.web.templating import render

router = APIRouter()

LINK_PARAMS = ("service", "member", "ts", "sig")


@router.get("/enter")
def enter(request: Request) -> Response:
    query = request.query_params
    if any(len(query.getlist(name)) > 1 for name in LINK_PARAMS):
        return problem(request, "link_malformed", 400)
    params = {name: query.get(name, "") for name in LINK_PARAMS}
    rt = runtime(request)
    now = rt.clock.now()
    previous = cookie_token(request)
    try:
        opened = rt.db.write(
            lambda conn: cash_sessions.open_from_link(conn, params, now=now, replaces=previous)
        )
    except CofferError as error:
        return from_error(request, error)
    response = RedirectResponse("/cash", status_code=303)
    set_session_cookie(request, response, opened.token)
    private(response)
    response.headers["Referrer-Policy"] = "no-referrer"  # the link never leaves in a Referer
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = current_session(request)
    if session is not None:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            form = await read_form(request)
            value = form.get(CSRF_FIELD) if form is not None else None
            presented = value if isinstance(value, str) else None
        if not csrf_ok(session, presented):
            return problem(request, "csrf_failed", 403)
        token = cookie_token(request)
        assert token is not None
        runtime(request).db.write(lambda conn: cash_sessions.close(conn, token))
    response = RedirectResponse("/cash/bye", status_code=303)
    clear_session_cookie(request, response)
    return private(response)


@router.get("/bye")
def signed_out(request: Request) -> HTMLResponse:
    response = render(request, "cash/bye.html")
    private(response)
    return response
