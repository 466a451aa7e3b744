"""The CS desk's pages: member search, the member page, and its history fragment (htmx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.kernel.errors import NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.text import is_storable_text
from coffer.ledger import queries, reports
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import EXTERNAL_ID_MAX, Member, Service
from coffer.tenancy.tables import MEMBER_STATUSES
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk.common import (
    admin_page,
    member_key,
    not_found,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
)
from coffer.web.admin.desk.forms import FormError, FormState
from coffer.web.admin.desk.member_view import (
    HistoryFilter,
    HistoryView,
    MemberView,
    history_filter,
    load_history,
    load_member,
)
from coffer.web.templating import render

router = APIRouter()

SEARCH_PAGE = 50
MembersView = Annotated[AdminContext, Depends(require("members.view"))]


def member_url(service: Service, external_id: str) -> str:
    return f"/admin/members/{service.id}/{quote(external_id, safe='')}"


@dataclass
class SearchView:
    services: list[Service]
    service: Service | None
    members: list[Member]
    balances: dict[Any, reports.WalletSummary]
    grades: list[str]
    next_after: str | None
    searched: bool


@router.get("/members")
async def search(
    request: Request,
    ctx: MembersView,
    service: str | None = None,
    q: str = "",
    match: str = "prefix",
    grade: str = "",
    status: str = "",
    after: str | None = None,
) -> HTMLResponse:
    """Members by external id (exact or prefix), grade and status; all members when empty."""
    q, grade = q.strip(), grade.strip()
    match = match if match in ("exact", "prefix") else "prefix"
    status = status if status in MEMBER_STATUSES else ""
    # Text no member id or grade can hold (NUL, too long) matches nobody, without a query.
    hopeless = not all(
        is_storable_text(value) and len(value) <= EXTERNAL_ID_MAX
        for value in (q, grade, after or "")
    )

    def load(conn: Connection) -> SearchView:
        services = tenancy.list_services(conn)
        chosen = pick_service(services, service)
        if chosen is None:
            return SearchView(services, None, [], {}, [], None, False)
        if hopeless:
            return SearchView(
                services, chosen, [], {}, tenancy.member_grades(conn, chosen.id), None, True
            )
        found, next_after = tenancy.search_members(
            conn,
            chosen.id,
            external_id=q or None,
            prefix=match == "prefix",
            grade=grade or None,
            status=status or None,
            after=after or None,
            limit=SEARCH_PAGE,
        )
        return SearchView(
            services,
            chosen,
            found,
            reports.wallet_summaries(conn, [m.id for m in found]),
            tenancy.member_grades(conn, chosen.id),
            next_after,
            bool(q or grade or status),
        )

    view = await read(request, load)
    params = {"q": q, "match": match, "grade": grade, "status": status}
    next_url = None
    if view.service and view.next_after:
        query = {"service": str(view.service.id), **params, "after": view.next_after}
        next_url = "/admin/members?" + urlencode(query)
    return admin_page(
        request,
        ctx,
        "admin/desk/members.html",
        {
            "view": view,
            "params": params,
            "statuses": MEMBER_STATUSES,
            "next_url": next_url,
            "member_url": member_url,
        },
    )


@router.get("/members/{service_id}/{external_id}")
async def member_page(
    request: Request, ctx: MembersView, service_id: str, external_id: str
) -> HTMLResponse:
    """Balances, lots, holds, history and the CS actions of one member."""
    _ = translator(request)
    params = dict(request.query_params)
    try:
        chosen, error = history_filter(params, _), None
    except FormError as bad:
        chosen, error = HistoryFilter(), FormState.failed(params, bad)
    return await show_member(request, ctx, service_id, external_id, chosen, history_error=error)


async def show_member(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    external_id: str,
    chosen: HistoryFilter | None = None,
    *,
    forms: dict[str, FormState] | None = None,
    history_error: FormState | None = None,
    errors_summary: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The member page, with a form's error and values when an action was refused."""
    now = runtime(request).clock.now()

    def load(conn: Connection) -> MemberView:
        service = service_or_404(conn, service_id)
        return load_member(
            conn, service, member_key(external_id), now, chosen or HistoryFilter(), history_error
        )

    try:
        view = await read(request, load)
    except NotFound:
        return not_found(request, ctx, translator(request)("No such member in this service."))
    if history_error is not None and status_code == 200:
        status_code = 422
    return admin_page(
        request,
        ctx,
        "admin/desk/member.html",
        {
            **_member_context(view.service, view.member),
            "view": view,
            "now": now,
            "forms": forms or {},
            "errors_summary": errors_summary,
            "grant_key": uuid7().hex,
            "revoke_key": uuid7().hex,
        },
        status_code=status_code,
    )


def _member_context(service: Service, member: Member) -> dict[str, Any]:
    return {
        "member_url": member_url(service, member.external_id),
        "code": service.currency,
        "tz": service.timezone,
        "journal_kinds": queries.JOURNAL_KINDS,
    }


@router.get("/members/{service_id}/{external_id}/history")
async def history_fragment(
    request: Request, ctx: MembersView, service_id: str, external_id: str
) -> Response:
    """The history section alone, for htmx to swap in (filters and pages without a reload)."""
    _ = translator(request)
    params = dict(request.query_params)
    try:
        chosen, error = history_filter(params, _), None
    except FormError as bad:
        chosen, error = HistoryFilter(), FormState.failed(params, bad)

    def load(conn: Connection) -> tuple[Service, Member, HistoryView]:
        service = service_or_404(conn, service_id)
        member = tenancy.get_member(conn, service.id, member_key(external_id))
        return service, member, load_history(conn, member, chosen, error)

    try:
        service, member, history = await read(request, load)
    except NotFound:
        return not_found(request, ctx, _("No such member in this service."))
    context = {
        **_member_context(service, member),
        "history": history,
        "ctx": ctx,
        "csrf_token": ctx.csrf_token,
    }
    # htmx swaps only 2xx answers: a filter error goes to htmx as 200, shown on the form.
    refused = error is not None and not request.headers.get("HX-Request")
    response = render(
        request, "admin/desk/_history.html", context, status_code=422 if refused else 200
    )
    query = urlencode(chosen.query())
    response.headers["HX-Push-Url"] = context["member_url"] + (f"?{query}" if query else "")
    response.headers["Cache-Control"] = "no-store"
    return response
