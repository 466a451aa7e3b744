"""``/admin/login`` (the form and its POST) and ``POST /admin/logout``.

The sign-in form has no session to take a CSRF token from, so it uses a double-submit token: a
random value in a SameSite=Strict cookie scoped to the form and in a hidden field; a POST
whose two copies differ is refused (403) before any password is checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Connection
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.admins import service as admins
from coffer.admins.model import new_token, same_token
from coffer.kernel.text import is_storable_text
from coffer.web.admin import auth_cookies as cookies
from coffer.web.admin.auth import CSRF_FIELD, AdminContext, client_address, require, runtime
from coffer.web.admin.auth_signin import sign_in, sign_out
from coffer.web.admin.rendering import FLASH_COOKIE, flash, private, read_flashes, translator
from coffer.web.templating import render

router = APIRouter()

HOME = "/admin"
_FIELD_MAX = 1024


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path inside ``/admin`` only, never another site."""
    if not value or len(value) > 2000 or not is_storable_text(value) or "\\" in value:
        return HOME
    if value != HOME and not value.startswith((HOME + "/", HOME + "?")):
        return HOME
    if value.startswith(cookies.LOGIN_PATH):
        return HOME
    return value


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = new_token()
    response = render(
        request,
        "admin/login.html",
        {
            "form_token": token,
            "next_url": next_url,
            "email": email,
            "error": error,
            "flashes": read_flashes(request),
        },
        status_code=status_code,
    )
    private(response)
    cookies.set_login_token(request, response, token)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/admin", httponly=True, samesite="lax")
    return response


@router.get("/login")
def login_form(request: Request, next: str = HOME) -> Response:
    token = cookies.session_token(request)
    if token is not None:
        rt = runtime(request)
        now = rt.clock.now()
        if rt.db.read(lambda conn: admins.find_session(conn, token, now=now)) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


def _field(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value[:_FIELD_MAX] if isinstance(value, str) else ""


@router.post("/login")
async def login(request: Request) -> Response:
    _ = translator(request)
    form: FormData | None
    try:
        form = await request.form()
    except Exception:  # a malformed body is a refused form, not a 500
        form = None
    email, password = _field(form, "email"), _field(form, "password")
    next_url = safe_next(_field(form, "next"))
    expected = cookies.login_token(request)
    if expected is None or not same_token(_field(form, CSRF_FIELD), expected):
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            error=_("The sign-in form expired. Please try again."),
            status_code=403,
        )
    rt = runtime(request)
    now = rt.clock.now()
    address = client_address(request)
    agent = request.headers.get("user-agent", "")
    user_agent = agent if is_storable_text(agent) else ""
    outcome = await run_in_threadpool(
        rt.db.write,
        lambda conn: sign_in(
            conn,
            email=email,
            password=password,
            now=now,
            address=address,
            user_agent=user_agent,
        ),
    )
    if outcome.session is None:
        error = (
            _("Too many failed sign-ins: the account is locked. Try again later.")
            if outcome.result == "locked"
            else _("Wrong email or password.")
        )
        return _login_page(request, next_url=next_url, email=email, error=error, status_code=401)
    old = cookies.session_token(request)
    if old is not None:
        await run_in_threadpool(rt.db.write, lambda conn: _revoke_token(conn, old, now))
    response = RedirectResponse(next_url, status_code=303)
    cookies.set_session(request, response, outcome.session.token)
    cookies.clear_login_token(request, response)
    return response


def _revoke_token(conn: Connection, token: str, now: datetime) -> None:
    """End the session a browser had before signing in again (no session fixation)."""
    session = admins.find_session(conn, token, now=now)
    if session is not None:
        admins.revoke_session(conn, session.id, now=now)


@router.post("/logout")
def logout(
    request: Request, ctx: Annotated[AdminContext, Depends(require("session.end"))]
) -> Response:
    rt = runtime(request)
    now = rt.clock.now()
    session_id = ctx.session_id
    if session_id is not None:
        rt.db.write(
            lambda conn: sign_out(
                conn,
                session_id=session_id,
                admin_id=ctx.admin_id,
                email=ctx.email,
                now=now,
                address=ctx.address,
            )
        )
    response = RedirectResponse(cookies.LOGIN_PATH, status_code=303)
    cookies.clear_session(request, response)
    _ = translator(request)
    flash(response, "ok", _("You have signed out."))
    return response
