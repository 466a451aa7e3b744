"""PG contracts of a service: the list with a create form, and one contract's page.

A contract's page edits its public fields and replaces its secrets (shown only as a hint, and
never typed back into a form), enables or disables it, sets each method's commission, and shows
the circuit breaker's view of its PG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.money import currency, format_minor
from coffer.payments import contracts, health
from coffer.payments.commissions import MethodTerms, method_terms
from coffer.payments.contracts import Contract
from coffer.payments.health import BreakerState
from coffer.payments.pg_tables import CONTRACT_STATUSES, PG_COMPANIES
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.desk.common import (
    done,
    form_values,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, choice, text
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.pg import actions, forms
from coffer.web.admin.pg.common import (
    UNCHANGED,
    KeyUnavailable,
    PgManage,
    PgView,
    contract_or_404,
    contract_url,
    explain,
    key_unavailable_text,
    method_or_404,
    not_found_page,
    pg_page,
    secret_box,
    service_url,
)

router = APIRouter()

#: Which form field a refusal belongs to.
_FIELDS = {
    "invalid_pg": "pg",
    "invalid_contract_name": "name",
    "pg_contract_name_taken": "name",
    "invalid_merchant_id": "merchant_id",
    "invalid_base_url": "base_url",
    "base_url_required": "base_url",
    "invalid_client_key": "client_key",
    "invalid_secret_key": "secret_key",
    "invalid_webhook_secret": "webhook_secret",
    "invalid_commission": "commission_rate",
}


@dataclass(frozen=True, slots=True)
class ContractRow:
    contract: Contract
    methods: list[str]
    breaker: BreakerState


@dataclass(frozen=True, slots=True)
class ContractsView:
    services: list[Service]
    service: Service
    rows: list[ContractRow]


@dataclass(frozen=True, slots=True)
class ContractView:
    service: Service
    contract: Contract
    terms: dict[str, MethodTerms]
    breaker: BreakerState


@router.get("/pg")
async def pg_home(request: Request, ctx: PgView, service: str | None = None) -> Response:
    """The PG pages of the chosen service (``?service=``), else of the first one."""
    services = await read(request, tenancy.list_services)
    chosen = pick_service(services, service)
    if chosen is None:
        return pg_page(request, ctx, "admin/pg/no_services.html", {})
    return RedirectResponse(service_url(chosen.id), status_code=303)


async def show_contracts(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    form: FormState | None = None,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = runtime(request).clock.now()

    def load(conn: Connection) -> ContractsView:
        service = service_or_404(conn, service_id)
        rows = [
            ContractRow(
                contract,
                [m for m, t in method_terms(conn, contract.id).items() if t.enabled],
                health.breaker_state(conn, contract.id, now),
            )
            for contract in contracts.list_contracts(conn, service.id)
        ]
        return ContractsView(tenancy.list_services(conn), service, rows)

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    context: dict[str, Any] = {"view": view, "form": form, "tab": "contracts"}
    if flashes is not None:
        context["flashes"] = flashes
    return pg_page(request, ctx, "admin/pg/contracts.html", context, status_code)


@router.get("/pg/{service_id}")
async def contracts_page(request: Request, ctx: PgView, service_id: str) -> HTMLResponse:
    return await show_contracts(request, ctx, service_id)


def _problem(
    error: FormError | CofferError | KeyUnavailable, _: Any, default_field: str = "form"
) -> tuple[FormError, int]:
    """A refusal as the form error to show and the page's status code."""
    if isinstance(error, FormError):
        return error, 422
    if isinstance(error, KeyUnavailable):
        return FormError("secret_key", key_unavailable_text(_)), 503
    named = str(error.details.get("field") or _FIELDS.get(error.code, default_field))
    field = "commission_rate" if named == "commission_bp" else named
    return FormError(field, explain(error, _)), error.status


@router.post("/pg/{service_id}/contracts")
async def create_contract(request: Request, ctx: PgManage, service_id: str) -> Response:
    """A new active contract; its secrets are sealed at once and never shown again."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> Contract:
        service = service_or_404(conn, service_id)
        fields = {
            "pg": choice(text(values, "pg"), PG_COMPANIES, _, name="pg"),
            **forms.contract_fields(values),
            "secret_key": text(values, "secret_key"),
            "webhook_secret": text(values, "webhook_secret"),
        }
        return actions.create_contract(
            conn, service.id, fields, box=box, who=Operator.of(ctx), now=now
        )

    try:
        box = secret_box(request)
        contract = await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except (FormError, CofferError, KeyUnavailable) as error:
        bad, status = _problem(error, _)
        return await show_contracts(
            request,
            ctx,
            service_id,
            form=forms.failed_form(values, bad),
            flashes=[{"kind": "error", "text": bad.message}],
            status_code=status,
        )
    return done(
        contract_url(service_id, contract.id),
        _("PG contract %(name)s created.") % {"name": contract.name},
    )


async def show_contract(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    contract_id: str,
    *,
    forms_state: dict[str, FormState] | None = None,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = runtime(request).clock.now()

    def load(conn: Connection) -> ContractView:
        service = service_or_404(conn, service_id)
        contract = contract_or_404(conn, service, contract_id)
        return ContractView(
            service,
            contract,
            method_terms(conn, contract.id),
            health.breaker_state(conn, contract.id, now),
        )

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    exponent = currency(view.service.currency)
    context: dict[str, Any] = {
        "view": view,
        "forms": forms_state or {},
        "major": lambda amount: format_minor(amount, exponent),
    }
    if flashes is not None:
        context["flashes"] = flashes
    return pg_page(request, ctx, "admin/pg/contract.html", context, status_code)


@router.get("/pg/{service_id}/contracts/{contract_id}")
async def contract_page(
    request: Request, ctx: PgView, service_id: str, contract_id: str
) -> HTMLResponse:
    return await show_contract(request, ctx, service_id, contract_id)


async def _refused(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    contract_id: str,
    form: str,
    values: dict[str, Any],
    error: FormError | CofferError | KeyUnavailable,
) -> Response:
    _ = translator(request)
    if isinstance(error, NotFound):
        return not_found_page(request, ctx, error)
    if isinstance(error, CofferError) and error.code in UNCHANGED:
        return done(contract_url(service_id, contract_id), _("Nothing changed."))
    bad, status = _problem(error, _)
    return await show_contract(
        request,
        ctx,
        service_id,
        contract_id,
        forms_state={form: forms.failed_form(values, bad)},
        flashes=[{"kind": "error", "text": bad.message}],
        status_code=status,
    )


@router.post("/pg/{service_id}/contracts/{contract_id}")
async def update_contract(
    request: Request, ctx: PgManage, service_id: str, contract_id: str
) -> Response:
    """The public fields; a secret is replaced only when a new one is typed."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        contract = contract_or_404(conn, service, contract_id)
        fields = {
            **forms.contract_fields(values),
            "secret_key": text(values, "secret_key") or None,
            "webhook_secret": text(values, "webhook_secret") or None,
        }
        actions.update_contract(
            conn, service.id, contract.id, fields, box=box, who=Operator.of(ctx), now=now
        )

    try:
        box = secret_box(request)
        await write(request, perform)
    except (FormError, CofferError, KeyUnavailable) as error:
        return await _refused(request, ctx, service_id, contract_id, "contract", values, error)
    return done(contract_url(service_id, contract_id), _("PG contract saved."))


@router.post("/pg/{service_id}/contracts/{contract_id}/status")
async def set_status(
    request: Request, ctx: PgManage, service_id: str, contract_id: str
) -> Response:
    """Enable or disable the contract (a disabled one is never routed to)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> Contract:
        service = service_or_404(conn, service_id)
        contract = contract_or_404(conn, service, contract_id)
        status = choice(text(values, "status"), CONTRACT_STATUSES, _, name="status")
        return actions.set_status(
            conn, service.id, contract.id, status, who=Operator.of(ctx), now=now
        )

    try:
        contract = await write(request, perform)
    except (FormError, CofferError) as error:
        return await _refused(request, ctx, service_id, contract_id, "status", values, error)
    message = (
        _("PG contract enabled.") if contract.status == "active" else _("PG contract disabled.")
    )
    return done(contract_url(service_id, contract_id), message)


@router.post("/pg/{service_id}/contracts/{contract_id}/methods/{method}")
async def set_method(
    request: Request, ctx: PgManage, service_id: str, contract_id: str, method: str
) -> Response:
    """Offer a payment method through this contract (or stop), with its commission."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        contract = contract_or_404(conn, service, contract_id)
        chosen = method_or_404(method)
        terms = forms.method_terms(values, service.currency, _)
        actions.set_method(
            conn, service.id, contract.id, chosen, terms, who=Operator.of(ctx), now=now
        )

    try:
        await write(request, perform)
    except (FormError, CofferError) as error:
        return await _refused(
            request, ctx, service_id, contract_id, f"method-{method}", values, error
        )
    return done(contract_url(service_id, contract_id), _("Payment method saved."))
