"""The admin web's cookies: the session token, the sign-in form's token, and flash messages.

Every cookie is HttpOnly, SameSite=Lax (Strict for the sign-in form's token), scoped to
``/admin``, and Secure when the request came over https.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from coffer.admins.model import SESSION_ABSOLUTE

SESSION_COOKIE = "coffer_admin"
#: Double-submit token of the sign-in form (there is no session yet to hold a CSRF token).
LOGIN_COOKIE = "coffer_admin_login"
PATH = "/admin"
LOGIN_PATH = "/admin/login"
LOGIN_FORM_SECONDS = 3600
TOKEN_MAX = 100


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    return token if token and len(token) <= TOKEN_MAX else None


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_ABSOLUTE.total_seconds()),
        path=PATH,
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=PATH, secure=_secure(request), httponly=True, samesite="lax"
    )


def login_token(request: Request) -> str | None:
    token = request.cookies.get(LOGIN_COOKIE)
    return token if token and len(token) <= TOKEN_MAX else None


def set_login_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path=LOGIN_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_login_token(request: Request, response: Response) -> None:
    response.delete_cookie(
        LOGIN_COOKIE, path=LOGIN_PATH, secure=_secure(request), httponly=True, samesite="strict"
    )
