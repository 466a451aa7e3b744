"""Charge limits per payment method: amount range and step, caps per member per day and month.

Amounts are typed in the service currency's major unit, like every desk form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.money import currency, format_minor
from coffer.payments import limits
from coffer.payments.limits import ChargeLimits
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.desk.common import (
    done,
    form_values,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, text
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.pg import actions, forms
from coffer.web.admin.pg.common import (
    UNCHANGED,
    PgManage,
    PgView,
    explain,
    method_or_404,
    not_found_page,
    pg_page,
    service_url,
)

router = APIRouter()


@dataclass(frozen=True, slots=True)
class LimitsView:
    service: Service
    limits: dict[str, ChargeLimits]


def limits_url(service_id: object) -> str:
    return f"{service_url(service_id)}/limits"


async def show_limits(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    forms_state: dict[str, FormState] | None = None,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> LimitsView:
        service = service_or_404(conn, service_id)
        return LimitsView(service, limits.all_limits(conn, service.id))

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    code = currency(view.service.currency)
    context: dict[str, Any] = {
        "view": view,
        "forms": forms_state or {},
        "tab": "limits",
        "major": lambda amount: "" if amount is None else format_minor(amount, code),
    }
    if flashes is not None:
        context["flashes"] = flashes
    return pg_page(request, ctx, "admin/pg/limits.html", context, status_code)


@router.get("/pg/{service_id}/limits")
async def limits_page(request: Request, ctx: PgView, service_id: str) -> HTMLResponse:
    return await show_limits(request, ctx, service_id)


@router.post("/pg/{service_id}/limits/{method}")
async def save_limits(request: Request, ctx: PgManage, service_id: str, method: str) -> Response:
    """Store the method's limits, or remove them (``action=clear``)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()
    clearing = text(values, "action") == "clear"

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        chosen = method_or_404(method)
        who = Operator.of(ctx)
        if clearing:
            actions.clear_limits(conn, service.id, chosen, who=who, now=now)
            return
        value = forms.charge_limits(values, service.currency, _)
        actions.set_limits(conn, service.id, chosen, value, who=who, now=now)

    try:
        await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except (FormError, CofferError) as error:
        if isinstance(error, CofferError) and error.code in UNCHANGED:
            return done(limits_url(service_id), _("Nothing changed."))
        if isinstance(error, FormError):
            bad, status = error, 422
        else:
            field = str(error.details.get("field") or "form")
            bad, status = FormError(field, explain(error, _)), error.status
        return await show_limits(
            request,
            ctx,
            service_id,
            forms_state={method: FormState.failed(values, bad)},
            flashes=[{"kind": "error", "text": bad.message}],
            status_code=status,
        )
    message = _("Limits removed.") if clearing else _("Limits saved.")
    return done(limits_url(service_id), message)
