"""What the charge pages share: permissions, addresses, labels, and refusals in words."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.kernel.errors import CofferError, NotFound
from coffer.payments import charges
from coffer.payments.charges import Charge
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.states import CHARGE_STATUSES
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.charge_labels import (
    ATTENTION_LABELS,
    CHARGE_STATUS_LABELS,
    REFUND_KIND_LABELS,
    REFUND_STATUS_LABELS,
    STATUS_TONES,
)
from coffer.web.admin.desk import messages
from coffer.web.admin.desk.common import admin_page, parse_id
from coffer.web.admin.desk.forms import Gettext
from coffer.web.admin.pg.labels import METHOD_LABELS, PG_LABELS

ChargesView = Annotated[AdminContext, Depends(require("charges.view"))]
ChargesRefund = Annotated[AdminContext, Depends(require("charges.refund"))]

SEARCH_PATH = "/admin/charges"


def charge_url(service_id: object, charge_id: object) -> str:
    return f"{SEARCH_PATH}/{service_id}/{charge_id}"


def charge_or_404(conn: Connection, service: Service, raw_id: str) -> Charge:
    """The service's charge named by a path segment; a malformed id is just not found."""
    charge_id = parse_id(raw_id)
    if charge_id is None:
        raise NotFound("charge_not_found", "No such charge in this service.")
    return charges.get_charge(conn, service.id, charge_id)


def charges_page(
    request: Request,
    ctx: AdminContext,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """An admin page with the labels every charge template uses."""
    values = {
        "status_labels": CHARGE_STATUS_LABELS,
        "status_tones": STATUS_TONES,
        "refund_status_labels": REFUND_STATUS_LABELS,
        "refund_kind_labels": REFUND_KIND_LABELS,
        "attention_labels": ATTENTION_LABELS,
        "method_labels": METHOD_LABELS,
        "pg_labels": PG_LABELS,
        "statuses": CHARGE_STATUSES,
        "methods": PAYMENT_METHODS,
        "charge_url": charge_url,
        **context,
    }
    return admin_page(request, ctx, template, values, status_code=status_code)


def explain(error: CofferError, _: Gettext) -> str:
    """A sentence for an admin; codes not about charges fall back to the desk's sentences."""
    known = {
        "charge_not_found": _("No such charge in this service."),
        "charge_not_refundable": _("Only an approved charge can be refunded."),
        "refund_exceeds_unspent": _("The amount is more than what is left unspent of this charge."),
        "refund_in_progress": _(
            "A refund of this charge is still with the PG: wait for its answer first."
        ),
        "invalid_reason": _("A reason is required (at most 500 characters)."),
    }
    details = error.details
    if error.code == "bonus_spent_blocks_refund" and {"owed", "remaining"} <= details.keys():
        return _(
            "This charge's event bonus has been spent: the refund would take back "
            "%(owed)s of it but only %(remaining)s is left. The service refuses such refunds "
            "(bonus refund rule: block)."
        ) % {"owed": f"{details['owed']:,}", "remaining": f"{details['remaining']:,}"}
    return known.get(error.code) or messages.explain(error, _)
