"""Content providers (list, add, edit, activate or deactivate) and the time rate card (how much
cash buys one minute of play time)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.catalog import products, providers, time_rates
from coffer.catalog.model import ContentProvider
from coffer.catalog.tables import CP_STATUSES
from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.catalog import actions
from coffer.web.admin.catalog.common import (
    CatalogManage,
    CatalogView,
    catalog_page,
    major,
    not_found_page,
    object_or_404,
    providers_url,
    rate_url,
    refusal,
)
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.common import (
    done,
    form_values,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, choice, text
from coffer.web.admin.desk.operator import Operator

router = APIRouter()


@dataclass(frozen=True, slots=True)
class ProvidersView:
    service: Service
    providers: list[ContentProvider]
    #: Products per CP, and of them on sale.
    products: dict[UUID, int]
    on_sale: dict[UUID, int]


async def show_providers(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    forms_state: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> ProvidersView:
        service = service_or_404(conn, service_id)
        listed = products.list_products(conn, service.id)
        return ProvidersView(
            service,
            providers.list_providers(conn, service.id),
            dict(Counter(p.cp_id for p in listed)),
            dict(Counter(p.cp_id for p in listed if p.status == "on_sale")),
        )

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    states = forms_state or {}
    context: dict[str, Any] = {"view": view, "forms": states, "tab": "providers"}
    failed = [message for state in states.values() for message in state.errors.values()]
    if failed:
        context["flashes"] = [{"kind": "error", "text": failed[0]}]
    return catalog_page(request, ctx, "admin/catalog/providers.html", context, status_code)


@router.get("/catalog/{service_id}/providers")
async def providers_page(request: Request, ctx: CatalogView, service_id: str) -> HTMLResponse:
    return await show_providers(request, ctx, service_id)


#: (conn, service, translate) -> the success message.
Perform = Callable[[Connection, Service, Gettext], str]


async def _act(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    form: str,
    values: dict[str, Any],
    perform: Perform,
) -> Response:
    _ = translator(request)
    try:
        message = await write(
            request, lambda conn: perform(conn, service_or_404(conn, service_id), _)
        )
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code in ("service_not_found", "cp_not_found"):
            return not_found_page(request, ctx, error)
        bad, status = refusal(error, _)
        return await show_providers(
            request,
            ctx,
            service_id,
            forms_state={form: FormState.failed(values, bad)},
            status_code=status,
        )
    return done(providers_url(service_id), message)


def _cp_id(raw: str) -> UUID:
    return object_or_404(raw, "cp_not_found", "No such content provider in this service.")


@router.post("/catalog/{service_id}/providers")
async def create_provider(request: Request, ctx: CatalogManage, service_id: str) -> Response:
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        made = actions.create_provider(
            conn, service.id, name=text(values, "name"), contact=text(values, "contact"),
            who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Content provider %(name)s added.") % {"name": made.name}

    return await _act(request, ctx, service_id, "create", values, perform)


@router.post("/catalog/{service_id}/providers/{cp_id}")
async def update_provider(
    request: Request, ctx: CatalogManage, service_id: str, cp_id: str
) -> Response:
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        _after, changed = actions.update_provider(
            conn, service.id, _cp_id(cp_id), name=text(values, "name"),
            contact=text(values, "contact"), who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Content provider saved.") if changed else _("Nothing changed.")

    return await _act(request, ctx, service_id, f"edit-{cp_id}", values, perform)


@router.post("/catalog/{service_id}/providers/{cp_id}/status")
async def set_provider_status(
    request: Request, ctx: CatalogManage, service_id: str, cp_id: str
) -> Response:
    """Activate or deactivate (refused while the CP has products on sale)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        status = choice(text(values, "status"), CP_STATUSES, _, name="status")
        after = actions.set_provider_status(
            conn, service.id, _cp_id(cp_id), status, who=Operator.of(ctx), now=now
        )
        if after.status == "active":
            return _("Content provider activated.")
        return _("Content provider deactivated.")

    return await _act(request, ctx, service_id, f"status-{cp_id}", values, perform)


# --- the time rate card ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateView:
    service: Service
    rate: int | None


async def show_rate(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> RateView:
        service = service_or_404(conn, service_id)
        return RateView(service, time_rates.get_rate(conn, service.id))

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    shown = state or FormState({"cash_per_minute": major(view.rate, view.service.currency)})
    context: dict[str, Any] = {"view": view, "form": shown, "tab": "rate"}
    if state is not None and state.errors:
        context["flashes"] = [{"kind": "error", "text": next(iter(state.errors.values()))}]
    return catalog_page(request, ctx, "admin/catalog/time_rate.html", context, status_code)


@router.get("/catalog/{service_id}/time-rate")
async def rate_page(request: Request, ctx: CatalogView, service_id: str) -> HTMLResponse:
    return await show_rate(request, ctx, service_id)


@router.post("/catalog/{service_id}/time-rate")
async def set_rate(request: Request, ctx: CatalogManage, service_id: str) -> Response:
    """Set the cash one minute of play time costs (in the currency's major unit)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> bool:
        service = service_or_404(conn, service_id)
        rate = forms.amount(
            text(values, "cash_per_minute"), service.currency, _, name="cash_per_minute"
        )
        return actions.set_time_rate(conn, service.id, rate, who=Operator.of(ctx), now=now)

    try:
        changed = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound):
            return not_found_page(request, ctx, error)
        bad, status = refusal(error, _)
        return await show_rate(
            request, ctx, service_id, state=FormState.failed(values, bad), status_code=status
        )
    return done(rate_url(service_id), _("Rate card saved.") if changed else _("Nothing changed."))
