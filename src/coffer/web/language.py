"""The Korean/English switch shared by both webs: sets the cookie and goes back."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse

from coffer.web.i18n import COOKIE, LOCALES

router = APIRouter()

ONE_YEAR = 365 * 24 * 3600


@router.get("/lang/{locale}", include_in_schema=False)
def switch_language(locale: str, next: str = "/") -> RedirectResponse:
    # Only same-site relative paths: never an open redirect.
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if locale in LOCALES:
        response.set_cookie(COOKIE, locale, max_age=ONE_YEAR, samesite="lax", httponly=True)
    return response
