"""The member's pages: balance and history (``/cash``), "my cash" lots (``/cash/lots``), and
the fragments htmx polls so that both stay current without a reload.

Page views count as activity (they move the idle timeout on); polls do not, so a page left
open signs out after the idle timeout, and its fragments then answer 286 (htmx stops polling)
with a note to open the cash page from the service again.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.tenancy.cash_sessions import CashSession
from coffer.web.cash import views
from coffer.web.cash.context import current_session, posted_form, private, runtime
from coffer.web.cash.problems import problem
from coffer.web.templating import render

router = APIRouter()

#: Seconds between polls of the live fragments.
POLL_SECONDS = 3
#: htmx stops polling an element whose fragment answers with this status.
STOP_POLLING = 286


def member_page(
    request: Request, session: CashSession, name: str, context: dict[str, Any]
) -> HTMLResponse:
    values = {
        "service": session.service,
        "member": session.member,
        "csrf_token": session.csrf_token,
        "timezone": session.service.timezone,
        "poll_seconds": POLL_SECONDS,
        **context,
    }
    response = render(request, name, values)
    private(response)
    return response


def _history_query(request: Request) -> tuple[str, UUID | None] | None:
    """The ``show`` filter and ``before`` cursor, or None when either is malformed."""
    show = request.query_params.get("show", "all")
    before_text = request.query_params.get("before", "")
    if show not in views.FILTERS:
        return None
    try:
        before = UUID(before_text) if before_text else None
    except ValueError:
        return None
    return show, before


async def member_form(request: Request) -> tuple[CashSession, dict[str, Any]] | Response:
    """The signed-in member's session and the fields they posted, or the page that refuses
    the post: 401 ``no_session`` (signed out) or 403 ``csrf_failed`` (no or a wrong token)."""
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    values = await posted_form(request, session)
    if values is None:
        return problem(request, "csrf_failed", 403)
    return session, values


def session_ended(request: Request, name: str) -> HTMLResponse:
    response = render(request, name, {"ended": True}, status_code=STOP_POLLING)
    private(response)
    return response


@router.get("")
def overview(request: Request) -> HTMLResponse:
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    query = _history_query(request)
    if query is None:
        return problem(request, "bad_request", 400)
    show, before = query
    rt = runtime(request)
    now = rt.clock.now()
    member_id = session.member.id
    summary, history = rt.db.read(
        lambda conn: (
            views.overview(conn, member_id, now),
            views.history(conn, member_id, show=show, before=before),
        )
    )
    return member_page(
        request,
        session,
        "cash/overview.html",
        {"overview": summary, "history": history, "now": now, "tab": "balance"},
    )


@router.get("/lots")
def my_cash(request: Request) -> HTMLResponse:
    session = current_session(request, touch=True)
    if session is None:
        return problem(request, "no_session", 401)
    rt = runtime(request)
    now = rt.clock.now()
    member_id = session.member.id
    timezone = session.service.timezone
    mine = rt.db.read(lambda conn: views.my_cash(conn, member_id, now, timezone))
    return member_page(
        request, session, "cash/lots.html", {"mine": mine, "now": now, "tab": "lots"}
    )


@router.get("/live/balance")
def live_balance(request: Request) -> HTMLResponse:
    session = current_session(request)
    if session is None:
        return session_ended(request, "cash/_balance.html")
    rt = runtime(request)
    now = rt.clock.now()
    member_id = session.member.id
    summary = rt.db.read(lambda conn: views.overview(conn, member_id, now))
    return member_page(request, session, "cash/_balance.html", {"overview": summary, "now": now})


@router.get("/live/history")
def live_history(request: Request) -> HTMLResponse:
    """The first page of history (later pages do not change, so they are not polled)."""
    session = current_session(request)
    if session is None:
        return session_ended(request, "cash/_history.html")
    query = _history_query(request)
    if query is None:
        return problem(request, "bad_request", 400)
    show, _before = query
    rt = runtime(request)
    member_id = session.member.id
    history = rt.db.read(lambda conn: views.history(conn, member_id, show=show, before=None))
    return member_page(request, session, "cash/_history.html", {"history": history})
