"""Services: the list, and one service's API keys, settings and webhook endpoint.

A new API key or webhook secret is shown on the page that answers the POST that made it, once:
it is not stored in clear, so no later page can show it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.money import currency, format_minor
from coffer.kernel.text import is_storable_text
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service, validate_webhook_url
from coffer.tenancy.tables import BONUS_REFUND_RULES, CONSUMPTION_ORDERS
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import forms, service_actions
from coffer.web.admin.desk.common import (
    admin_page,
    done,
    form_values,
    not_found,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, text
from coffer.web.admin.desk.messages import explain
from coffer.web.admin.desk.operator import Operator

router = APIRouter()

LABEL_MAX = 200
_PREFIX = re.compile(r"[0-9a-f]{12}")
_ZONES = sorted(available_timezones())


@router.get("/services")
async def services_page(
    request: Request, ctx: Annotated[AdminContext, Depends(require("services.view"))]
) -> HTMLResponse:
    found = await read(request, tenancy.list_services)
    return admin_page(request, ctx, "admin/desk/services.html", {"services": found})


@dataclass
class ServiceView:
    service: Service
    keys: list[dict[str, Any]]
    webhook_secret_set: bool


async def show_service(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    forms: dict[str, FormState] | None = None,
    shown_once: dict[str, str] | None = None,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> ServiceView:
        service = service_or_404(conn, service_id)
        return ServiceView(
            service,
            tenancy.list_api_keys(conn, service.id),
            tenancy.webhook_target(conn, service.id)[1] is not None,
        )

    try:
        view = await read(request, load)
    except NotFound:
        return not_found(request, ctx, translator(request)("No such service."))
    context: dict[str, Any] = {
        "view": view,
        "forms": forms or {},
        "shown_once": shown_once or {},
        "orders": CONSUMPTION_ORDERS,
        "zones": _ZONES,
        "threshold_text": _major(view.service.grant_approval_threshold, view.service.currency),
    }
    if flashes is not None:
        context["flashes"] = flashes
    return admin_page(request, ctx, "admin/desk/service.html", context, status_code=status_code)


def _major(amount: int | None, code: str) -> str:
    return "" if amount is None else format_minor(amount, currency(code))


@router.get("/services/{service_id}")
async def service_page(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("services.view"))],
    service_id: str,
) -> HTMLResponse:
    return await show_service(request, ctx, service_id)


async def _refused(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    form: str,
    values: dict[str, Any],
    error: FormError | CofferError,
) -> HTMLResponse:
    _ = translator(request)
    if isinstance(error, NotFound) and error.code == "service_not_found":
        return not_found(request, ctx, _("No such service."))
    if isinstance(error, FormError):
        bad, status = error, 422
    else:
        bad, status = FormError(_FIELDS.get(error.code, "form"), explain(error, _)), error.status
    return await show_service(
        request,
        ctx,
        service_id,
        forms={form: FormState.failed(values, bad)},
        flashes=[{"kind": "error", "text": bad.message}],
        status_code=status,
    )


_FIELDS = {
    "invalid_timezone": "timezone",
    "invalid_consumption_order": "consumption_order",
    "invalid_bonus_refund": "bonus_refund",
    "invalid_url": "webhook_url",
    "invalid_amount": "grant_approval_threshold",
    "api_key_not_found": "prefix",
}


@router.post("/services/{service_id}/keys")
async def create_key(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("services.keys"))],
    service_id: str,
) -> Response:
    """Create an API key and show it, this once."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> str:
        label = text(values, "label").strip()
        if len(label) > LABEL_MAX or not is_storable_text(label):
            raise FormError(
                "label", _("Keep the label to %(max)s characters.") % {"max": LABEL_MAX}
            )
        service = service_or_404(conn, service_id)
        key = service_actions.create_api_key(
            conn, service.id, label=label or "admin", who=Operator.of(ctx), now=now
        )
        return key.plaintext

    try:
        plaintext = await write(request, perform)
    except (FormError, CofferError) as error:
        return await _refused(request, ctx, service_id, "key", values, error)
    return await show_service(
        request,
        ctx,
        service_id,
        shown_once={"api_key": plaintext},
        flashes=[
            {"kind": "ok", "text": _("API key created. Copy it now: it will not be shown again.")}
        ],
    )


@router.post("/services/{service_id}/keys/{prefix}/revoke")
async def revoke_key(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("services.keys"))],
    service_id: str,
    prefix: str,
) -> Response:
    """Revoke an API key: requests with it are refused from now on."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        if not _PREFIX.fullmatch(prefix):
            raise NotFound("api_key_not_found", "No active API key with that prefix.")
        service_actions.revoke_api_key(conn, service.id, prefix, who=Operator.of(ctx), now=now)

    try:
        await write(request, perform)
    except (FormError, CofferError) as error:
        return await _refused(request, ctx, service_id, "revoke", values, error)
    return done(
        f"/admin/services/{service_id}", _("API key %(prefix)s revoked.") % {"prefix": prefix}
    )


def _settings(values: dict[str, Any], service: Service, _: Gettext) -> dict[str, Any]:
    """The settings form as the values to store (None clears threshold and webhook URL)."""
    order = forms.choice(
        text(values, "consumption_order"), CONSUMPTION_ORDERS, _, name="consumption_order"
    )
    bonus_refund = forms.choice(
        text(values, "bonus_refund") or service.bonus_refund, BONUS_REFUND_RULES, _,
        name="bonus_refund",
    )  # fmt: skip
    zone = text(values, "timezone").strip()
    if zone not in _ZONES:
        raise FormError("timezone", _("Not a known time zone (use a name like Asia/Seoul)."))
    threshold = forms.optional_amount(
        text(values, "grant_approval_threshold"),
        service.currency,
        _,
        name="grant_approval_threshold",
    )
    url = text(values, "webhook_url").strip() or None
    if url is not None:
        try:
            validate_webhook_url(url)
        except CofferError:
            raise FormError(
                "webhook_url", _("Enter an absolute http:// or https:// URL.")
            ) from None
    return {
        "consumption_order": order,
        "bonus_refund": bonus_refund,
        "timezone": zone,
        "grant_approval_threshold": threshold,
        "webhook_url": url,
    }


@router.post("/services/{service_id}/settings")
async def update_settings(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("services.settings"))],
    service_id: str,
) -> Response:
    """Consumption order, time zone, grant approval threshold and webhook URL."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> str | None:
        service = service_or_404(conn, service_id)
        changes = _settings(values, service, _)
        _updated, secret = service_actions.update_settings(
            conn, service.id, changes, who=Operator.of(ctx), now=now
        )
        return secret

    try:
        secret = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, CofferError) and error.code == "settings_unchanged":
            return done(f"/admin/services/{service_id}", _("Nothing changed."))
        return await _refused(request, ctx, service_id, "settings", values, error)
    if secret is None:
        return done(f"/admin/services/{service_id}", _("Settings saved."))
    return await show_service(
        request,
        ctx,
        service_id,
        shown_once={"webhook_secret": secret},
        flashes=[
            {
                "kind": "ok",
                "text": _(
                    "Settings saved. Copy the webhook signing secret now: "
                    "it will not be shown again."
                ),
            }
        ],
    )


@router.post("/services/{service_id}/webhook-secret")
async def rotate_webhook_secret(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("services.settings"))],
    service_id: str,
) -> Response:
    """A new webhook signing secret, shown once; deliveries are signed with it from now on."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> str:
        service = service_or_404(conn, service_id)
        return service_actions.rotate_webhook_secret(
            conn, service.id, who=Operator.of(ctx), now=now
        )

    try:
        secret = await write(request, perform)
    except (FormError, CofferError) as error:
        return await _refused(request, ctx, service_id, "secret", values, error)
    return await show_service(
        request,
        ctx,
        service_id,
        shown_once={"webhook_secret": secret},
        flashes=[
            {
                "kind": "ok",
                "text": _("New webhook signing secret. Copy it now: it will not be shown again."),
            }
        ],
    )
