"""What every cash-web handler needs: the runtime, the session of the cookie, the cookie itself.

The cookie holds only a random token (its hash finds the session row); it is HttpOnly,
SameSite=Lax, Secure when the request came over https, and scoped to ``/cash``.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from coffer.app import Runtime
from coffer.tenancy import cash_sessions
from coffer.tenancy.cash_sessions import CashSession

COOKIE = "coffer_cash"
COOKIE_PATH = "/cash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

#: Member pages are private and never framed (a service opens them in a window of their own).
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def runtime(request: Request) -> Runtime:
    value = request.app.state.runtime
    assert isinstance(value, Runtime)
    return value


def cookie_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if token and len(token) <= 100 else None


def current_session(request: Request, *, touch: bool = False) -> CashSession | None:
    """The signed-in member's session, or None. ``touch`` records activity (page views)."""
    token = cookie_token(request)
    if token is None:
        return None
    rt = runtime(request)
    now = rt.clock.now()
    session = rt.db.read(lambda conn: cash_sessions.find(conn, token, now=now))
    if session is not None and touch and session.needs_touch(now):
        rt.db.write(lambda conn: cash_sessions.touch(conn, session.id, now=now))
    return session


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(cash_sessions.MAX_AGE.total_seconds()),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


async def read_form(request: Request) -> FormData | None:
    """The posted form, or None when the body cannot be read (refused like a missing token)."""
    try:
        return await request.form()
    except (HTTPException, MultiPartException, UnicodeDecodeError):
        return None


async def posted_form(request: Request, session: CashSession) -> dict[str, Any] | None:
    """The posted form's fields when it carries the session's CSRF token; None otherwise."""
    form = await read_form(request)
    if form is None:
        return None
    values = {key: value for key, value in form.items()}
    token = values.get(CSRF_FIELD)
    return values if csrf_ok(session, token if isinstance(token, str) else None) else None


def csrf_ok(session: CashSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        session.csrf_token.encode(), (presented or "").encode()
    )


def private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response
