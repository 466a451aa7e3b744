"""What the PG pages share: permissions, the objects named in the path, the key, messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.config import SecretKeyMissing
from coffer.kernel.errors import CofferError, NotFound
from coffer.payments import contracts
from coffer.payments.contracts import Contract
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.pg_tables import PG_COMPANIES
from coffer.payments.secrets import InvalidSecretKey, SecretBox
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import messages
from coffer.web.admin.desk.common import admin_page, parse_id, runtime, translator
from coffer.web.admin.desk.forms import Gettext
from coffer.web.admin.pg import forms
from coffer.web.admin.pg.labels import (
    BREAKER_LABELS,
    CONTRACT_STATUS_LABELS,
    METHOD_LABELS,
    PG_LABELS,
)

PgView = Annotated[AdminContext, Depends(require("pg.view"))]
PgManage = Annotated[AdminContext, Depends(require("pg.manage"))]

#: Codes that mean "the form was fine but asks for what is already so".
UNCHANGED = frozenset(
    {
        "pg_contract_unchanged",
        "pg_contract_status_unchanged",
        "pg_method_unchanged",
        "charge_limits_unchanged",
    }
)


class KeyUnavailable(Exception):
    """Coffer cannot seal secrets: no usable ``COFFER_SECRET_KEY``."""


def service_url(service_id: object) -> str:
    return f"/admin/pg/{service_id}"


def contract_url(service_id: object, contract_id: object) -> str:
    return f"/admin/pg/{service_id}/contracts/{contract_id}"


def contract_or_404(conn: Connection, service: Service, raw_id: str) -> Contract:
    contract_id = parse_id(raw_id)
    if contract_id is None:
        raise NotFound("pg_contract_not_found", "No such PG contract.")
    return contracts.get_contract(conn, service.id, contract_id)


def method_or_404(method: str) -> str:
    if method not in PAYMENT_METHODS:
        raise NotFound("pg_method_not_found", "No such payment method.")
    return method


def secret_box(request: Request) -> SecretBox:
    """The box that seals PG secrets, from the settings; :class:`KeyUnavailable` without one."""
    try:
        return SecretBox(runtime(request).settings.resolve_secret_key())
    except (SecretKeyMissing, InvalidSecretKey, OSError) as error:
        raise KeyUnavailable(str(error)) from error


def pg_page(
    request: Request,
    ctx: AdminContext,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """An admin page with the PG labels and helpers every PG template uses."""
    values = {
        "pg_labels": PG_LABELS,
        "method_labels": METHOD_LABELS,
        "breaker_labels": BREAKER_LABELS,
        "status_labels": CONTRACT_STATUS_LABELS,
        "methods": PAYMENT_METHODS,
        "companies": PG_COMPANIES,
        "percent": forms.bp_as_percent,
        **context,
    }
    return admin_page(request, ctx, template, values, status_code=status_code)


def not_found_page(request: Request, ctx: AdminContext, error: NotFound) -> HTMLResponse:
    _ = translator(request)
    return admin_page(
        request,
        ctx,
        "admin/desk/not_found.html",
        {"message": explain(error, _)},
        status_code=404,
    )


def key_unavailable_text(_: Gettext) -> str:
    return _(
        "Coffer has no secret key to encrypt PG secrets with. Set COFFER_SECRET_KEY "
        "(see docs/payments-admin.md) and restart."
    )


def explain(error: CofferError, _: Gettext) -> str:
    """A sentence for an operator; codes not about PGs fall back to the desk's sentences."""
    known = {
        "invalid_pg": _("Choose one of the PG companies."),
        "invalid_contract_name": _("Enter a name of at most 100 characters on one line."),
        "pg_contract_name_taken": _("This service already has a PG contract with this name."),
        "invalid_merchant_id": _("Enter the merchant ID (at most 200 characters on one line)."),
        "invalid_base_url": _("Enter an absolute http:// or https:// URL."),
        "base_url_required": _("The sandbox PG needs its base URL, e.g. http://127.0.0.1:8100."),
        "invalid_client_key": _("Enter the client key (at most 200 characters on one line)."),
        "invalid_secret_key": _("Enter the secret key (at most 500 characters on one line)."),
        "invalid_webhook_secret": _(
            "Enter the webhook secret (at most 500 characters on one line)."
        ),
        "pg_contract_not_found": _("No such PG contract."),
        "pg_method_not_found": _("No such payment method."),
        "invalid_method": _("No such payment method."),
        "invalid_commission": _("Enter a rate from 0 to 100% and fees of zero or more."),
        "duplicate_route": _("A contract can appear only once in the order."),
        "charge_limits_not_set": _("This method has no limits to remove."),
        "invalid_contract_status": _("Choose one of the options."),
    }
    if error.code == "invalid_charge_limits":
        if error.details.get("field") == "max_amount":
            return _("The maximum must not be below the minimum.")
        return _("The amount is too large.")
    if error.code in UNCHANGED:
        return _("Nothing changed.")
    return known.get(error.code) or messages.explain(error, _)
