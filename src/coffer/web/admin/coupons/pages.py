"""The coupon pages: campaigns (list, create, code inquiry) and one campaign (status, counts,
codes, issuing, recent redemptions and cancelling them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.catalog import categories, products
from coffer.catalog.model import Category
from coffer.coupons import campaigns, codes, redeeming
from coffer.coupons.campaigns import CodeCounts
from coffer.coupons.model import Campaign, Inquiry, Redemption
from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.auth_routes import safe_next
from coffer.web.admin.coupons import actions
from coffer.web.admin.coupons.common import (
    CouponsIssue,
    CouponsManage,
    CouponsView,
    base_url,
    campaign_spec,
    campaign_url,
    explain,
    refusal,
)
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.common import (
    admin_page,
    done,
    form_values,
    parse_id,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, text
from coffer.web.admin.desk.operator import Operator

router = APIRouter()


@dataclass(frozen=True, slots=True)
class ListView:
    service: Service
    services: list[Service]
    campaigns: list[Campaign]
    menus: list[Category]
    inquiry: Inquiry | None
    inquiry_error: str | None
    code: str


@dataclass(frozen=True, slots=True)
class CampaignView:
    service: Service
    campaign: Campaign
    counts: CodeCounts
    redemptions: list[tuple[Redemption, str, str | None]]
    product_sku: str | None


def _not_found(request: Request, ctx: AdminContext, error: CofferError) -> HTMLResponse:
    _ = translator(request)
    return admin_page(request, ctx, "admin/desk/not_found.html",
                      {"message": explain(error, _)}, status_code=404)  # fmt: skip


def _campaign_id(raw: str) -> UUID:
    found = parse_id(raw)
    if found is None:
        raise NotFound("campaign_not_found", "No such coupon campaign in this service.")
    return found


@router.get("/coupons")
async def coupons_home(request: Request, ctx: CouponsView, service: str | None = None) -> Response:
    """The coupons of the chosen service (``?service=``), else of the first one."""
    services = await read(request, tenancy.list_services)
    chosen = pick_service(services, service)
    if chosen is None:
        return admin_page(request, ctx, "admin/coupons/no_services.html", {})
    return RedirectResponse(base_url(chosen.id), status_code=303)


async def show_list(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    code: str = "",
    states: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    _ = translator(request)

    def load(conn: Connection) -> ListView:
        service = service_or_404(conn, service_id)
        inquiry, problem = None, None
        if code.strip():
            try:
                inquiry = campaigns.inquire(conn, service.id, code)
            except CofferError as error:
                problem = explain(error, _)
        menus = categories.list_categories(conn, service.id)
        return ListView(service, tenancy.list_services(conn),
                        campaigns.list_campaigns(conn, service.id), menus, inquiry, problem,
                        code)  # fmt: skip

    try:
        view = await read(request, load)
    except NotFound as error:
        return _not_found(request, ctx, error)
    context: dict[str, Any] = {"view": view, "forms": states or {}}
    return admin_page(request, ctx, "admin/coupons/campaigns.html", context, status_code)


@router.get("/coupons/{service_id}")
async def campaigns_page(
    request: Request, ctx: CouponsView, service_id: str, code: str = ""
) -> HTMLResponse:
    """The service's campaigns, the create form, and the inquiry of ``?code=``."""
    return await show_list(request, ctx, service_id, code=code[:100])


@router.post("/coupons/{service_id}/campaigns")
async def create_campaign(request: Request, ctx: CouponsManage, service_id: str) -> Response:
    values = await form_values(request)
    now = runtime(request).clock.now()
    _ = translator(request)

    def perform(conn: Connection) -> Campaign:
        service = service_or_404(conn, service_id)
        spec = campaign_spec(conn, service, values, _)
        return actions.create_campaign(conn, service.id, spec, who=Operator.of(ctx), now=now)

    try:
        made = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code == "service_not_found":
            return _not_found(request, ctx, error)
        bad, status = refusal(error, _)
        return await show_list(request, ctx, service_id,
                               states={"create": FormState.failed(values, bad)},
                               status_code=status)  # fmt: skip
    return done(campaign_url(service_id, made.id),
                _("Campaign %(name)s created as a draft.") % {"name": made.name})  # fmt: skip


# --- one campaign ---------------------------------------------------------------------------


async def show_campaign(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    campaign_id: str,
    *,
    states: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> CampaignView:
        service = service_or_404(conn, service_id)
        campaign = campaigns.get_campaign(conn, service.id, _campaign_id(campaign_id))
        sku = None
        if campaign.product_id is not None:
            sku = products.get_product(conn, service.id, campaign.product_id).sku
        return CampaignView(service, campaign, campaigns.counts(conn, campaign),
                            campaigns.recent_redemptions(conn, campaign), sku)  # fmt: skip

    try:
        view = await read(request, load)
    except NotFound as error:
        return _not_found(request, ctx, error)
    context: dict[str, Any] = {
        "view": view, "forms": states or {}, "reversible": redeeming.is_reversible,
    }  # fmt: skip
    failed = [message for state in (states or {}).values() for message in state.errors.values()]
    if failed:
        context["flashes"] = [{"kind": "error", "text": failed[0]}]
    return admin_page(request, ctx, "admin/coupons/campaign.html", context, status_code)


@router.get("/coupons/{service_id}/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, ctx: CouponsView, service_id: str, campaign_id: str
) -> HTMLResponse:
    return await show_campaign(request, ctx, service_id, campaign_id)


#: (conn, service, campaign id, translate) -> the success message.
Perform = Callable[[Connection, Service, UUID, Gettext], str]


async def _act(
    request: Request, ctx: AdminContext, service_id: str, campaign_id: str, form: str,
    perform: Perform,
) -> Response:  # fmt: skip
    values = await form_values(request)
    _ = translator(request)
    try:
        message = await write(
            request,
            lambda conn: perform(conn, service_or_404(conn, service_id),
                                 _campaign_id(campaign_id), _),
        )  # fmt: skip
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code in ("service_not_found",
                                                          "campaign_not_found"):  # fmt: skip
            return _not_found(request, ctx, error)
        bad, status = refusal(error, _)
        return await show_campaign(request, ctx, service_id, campaign_id,
                                   states={form: FormState.failed(values, bad)},
                                   status_code=status)  # fmt: skip
    back = text(values, "next")  # the CS member page sends its own address
    return done(safe_next(back) if back else campaign_url(service_id, campaign_id), message)


@router.post("/coupons/{service_id}/campaigns/{campaign_id}/status")
async def change_status(
    request: Request, ctx: CouponsManage, service_id: str, campaign_id: str
) -> Response:
    action = text(await form_values(request), "action")
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, cid: UUID, _: Gettext) -> str:
        chosen = forms.choice(action, ("activate", "end"), _, name="action")
        actions.change_status(conn, service.id, cid, chosen, who=Operator.of(ctx), now=now)
        return _("The campaign is running.") if chosen == "activate" else _("The campaign ended.")

    return await _act(request, ctx, service_id, campaign_id, "status", perform)


@router.post("/coupons/{service_id}/campaigns/{campaign_id}/generate")
async def generate_codes(
    request: Request, ctx: CouponsManage, service_id: str, campaign_id: str
) -> Response:
    raw = text(await form_values(request), "count").strip()
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, cid: UUID, _: Gettext) -> str:
        if not raw.isdigit() or not 1 <= int(raw) <= campaigns.MAX_GENERATE:
            raise FormError("count", _("Enter a number of codes from 1 to 10000."))
        made = actions.generate(conn, service.id, cid, int(raw), who=Operator.of(ctx), now=now)
        return _("%(count)s codes generated.") % {"count": len(made)}

    return await _act(request, ctx, service_id, campaign_id, "generate", perform)


@router.post("/coupons/{service_id}/campaigns/{campaign_id}/revoke")
async def revoke_codes(
    request: Request, ctx: CouponsManage, service_id: str, campaign_id: str
) -> Response:
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, cid: UUID, _: Gettext) -> str:
        count = actions.revoke(conn, service.id, cid, who=Operator.of(ctx), now=now)
        return _("%(count)s unredeemed codes revoked.") % {"count": count}

    return await _act(request, ctx, service_id, campaign_id, "revoke", perform)


@router.post("/coupons/{service_id}/campaigns/{campaign_id}/issue")
async def issue_code(
    request: Request, ctx: CouponsIssue, service_id: str, campaign_id: str
) -> Response:
    external_id = text(await form_values(request), "external_id").strip()
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, cid: UUID, _: Gettext) -> str:
        if not external_id:
            raise FormError("external_id", _("Enter the member's external id."))
        code = actions.issue(conn, service.id, cid, external_id, who=Operator.of(ctx), now=now)
        return _("Code %(code)s issued to %(member)s.") % {
            "code": codes.format_code(code.code), "member": external_id,
        }  # fmt: skip

    return await _act(request, ctx, service_id, campaign_id, "issue", perform)


@router.get("/coupons/{service_id}/campaigns/{campaign_id}/codes.csv")
async def export_codes(
    request: Request, ctx: CouponsManage, service_id: str, campaign_id: str
) -> Response:
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> tuple[Campaign, str]:
        service = service_or_404(conn, service_id)
        return actions.export(conn, service.id, _campaign_id(campaign_id),
                              who=Operator.of(ctx), now=now)  # fmt: skip

    try:
        campaign, body = await write(request, perform)
    except NotFound as error:
        return _not_found(request, ctx, error)
    name = f"coupons-{campaign.id}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/coupons/{service_id}/redemptions/{redemption_id}/cancel")
async def cancel_redemption(
    request: Request, ctx: CouponsIssue, service_id: str, redemption_id: str
) -> Response:
    values = await form_values(request)
    campaign_id = text(values, "campaign_id")
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _cid: UUID, _: Gettext) -> str:
        rid = parse_id(redemption_id)
        if rid is None:
            raise NotFound("redemption_not_found", "No such redemption in this service.")
        reason = forms.reason(text(values, "reason"), _)
        actions.cancel_redemption(conn, service, rid, reason, who=Operator.of(ctx), now=now)
        return _("The redemption was cancelled.")

    return await _act(request, ctx, service_id, campaign_id, f"cancel-{redemption_id}", perform)
