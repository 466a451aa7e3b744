"""Refusals on the cash web as pages a member can read, never a JSON envelope or a 500.

Each problem has a code (``problem.html`` holds the wording in both languages) and a status.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError, InvalidInput
from coffer.web.cash.context import private
from coffer.web.templating import render

#: Codes the page has wording for; anything else is shown as ``invalid_link``.
KNOWN = frozenset(
    {
        "link_malformed",
        "link_unknown_service",
        "link_signature_invalid",
        "link_expired",
        "link_not_yet_valid",
        "member_not_found",
        "member_suspended",
        "member_closed",
        "no_session",
        "csrf_failed",
        "bad_request",
        "not_found",
    }
)


def problem(request: Request, code: str, status: int) -> HTMLResponse:
    shown = code if code in KNOWN else "invalid_link"
    response = render(request, "cash/problem.html", {"problem": shown}, status_code=status)
    private(response)
    return response


def from_error(request: Request, error: CofferError) -> HTMLResponse:
    """A domain refusal as a page: malformed input is a 400, the rest keep their status."""
    status = 400 if isinstance(error, InvalidInput) else error.status
    return problem(request, error.code, status)


fallback = APIRouter()


@fallback.get("/{rest:path}")
def unknown_page(request: Request, rest: str) -> Response:
    """Any other address under /cash: a page, not the API's JSON 404 (``/cash/`` -> ``/cash``)."""
    if not rest:
        return RedirectResponse("/cash", status_code=307)
    return problem(request, "not_found", 404)
