"""Grant approvals: the list (pending first) and the two decisions a second admin can make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.approvals import service as approvals
from coffer.approvals.model import STATUSES, GrantApproval
from coffer.kernel.errors import CofferError
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import approval_actions, forms
from coffer.web.admin.desk.common import (
    admin_page,
    done,
    form_values,
    parse_id,
    pick_service,
    read,
    runtime,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, text
from coffer.web.admin.desk.members import member_url
from coffer.web.admin.desk.messages import explain
from coffer.web.admin.desk.operator import Operator
from coffer.web.formatting import money

router = APIRouter()

PAGE = 50
Deciding = Annotated[AdminContext, Depends(require("approvals.decide"))]


@dataclass
class ApprovalsView:
    services: list[Service]
    service: Service | None
    approvals: list[GrantApproval]
    next_before: Any
    status: str


@router.get("/approvals")
async def approvals_page(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("approvals.view"))],
    service: str | None = None,
    status: str = "pending",
    before: str | None = None,
) -> HTMLResponse:
    """Grant requests of one service, newest first; ``status=all`` shows decided ones too."""
    return await _page(request, ctx, service, status, before)


async def _page(
    request: Request,
    ctx: AdminContext,
    service: str | None,
    status: str,
    before: str | None,
    *,
    failed: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    status = status if status in (*STATUSES, "all") else "pending"

    def load(conn: Connection) -> ApprovalsView:
        services = tenancy.list_services(conn)
        chosen = pick_service(services, service)
        if chosen is None:
            return ApprovalsView(services, None, [], None, status)
        found, cursor = approvals.list_approvals(
            conn,
            status=None if status == "all" else status,
            service_id=chosen.id,
            before=parse_id(before),
            limit=PAGE,
        )
        return ApprovalsView(services, chosen, found, cursor, status)

    view = await read(request, load)
    next_url = None
    if view.service and view.next_before:
        query = {"service": str(view.service.id), "status": status, "before": str(view.next_before)}
        next_url = "/admin/approvals?" + urlencode(query)
    return admin_page(
        request,
        ctx,
        "admin/desk/approvals.html",
        {
            "view": view,
            "statuses": (*STATUSES, "all"),
            "next_url": next_url,
            "member_url": member_url,
            "failed": failed or {},
        },
        status_code=status_code,
    )


def _back(approval: GrantApproval | None, service: str | None) -> str:
    chosen = str(approval.service_id) if approval else (service or "")
    return "/admin/approvals" + (f"?service={chosen}" if chosen else "")


async def _decide(request: Request, ctx: AdminContext, approval_id: str, approve: bool) -> Response:
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()
    who = Operator.of(ctx)
    service = text(values, "service") or None

    def perform(conn: Connection) -> GrantApproval:
        wanted = forms.object_id(approval_id, _, name="approval")
        if approve:
            reason = text(values, "reason").strip()
            checked = forms.reason(reason, _) if reason else None
            return approval_actions.approve(conn, wanted, reason=checked, who=who, now=now)
        return approval_actions.reject(
            conn, wanted, reason=forms.reason(text(values, "reason"), _), who=who, now=now
        )

    try:
        decided = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, FormError):
            bad, code = error, 422
        else:
            bad, code = FormError("reason", explain(error, _)), error.status
        return await _page(
            request,
            ctx,
            service,
            "pending",
            None,
            failed={approval_id: FormState.failed(values, bad)},
            status_code=code,
        )
    amount = money(decided.amount, decided.currency)
    if approve:
        text_ = _("Approved: %(amount)s granted to %(member)s.")
    else:
        text_ = _("Rejected the grant of %(amount)s to %(member)s.")
    return done(
        _back(decided, service), text_ % {"amount": amount, "member": decided.member_external_id}
    )


@router.post("/approvals/{approval_id}/approve")
async def approve(request: Request, ctx: Deciding, approval_id: str) -> Response:
    """Approve a pending grant: it is carried out now, once (never by its requester)."""
    return await _decide(request, ctx, approval_id, approve=True)


@router.post("/approvals/{approval_id}/reject")
async def reject(request: Request, ctx: Deciding, approval_id: str) -> Response:
    """Reject a pending grant, with a reason; nothing is granted."""
    return await _decide(request, ctx, approval_id, approve=False)
