"""One charge: its amounts, PG and state, the timeline, its refunds, and the refund form.

``POST …/refund`` refunds part or all of the unspent cash (the form offers all of it). A
success goes back to the charge page (303) with a flash; a refusal shows the charge page again
with the error beside the form and the values typed, with a 4xx status, and nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import currency, format_minor
from coffer.payments import charges, refunds
from coffer.payments.charges import Charge, TimelineEntry
from coffer.payments.refunds import Refund
from coffer.payments.states import REFUND_IN_FLIGHT
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.charges import refund_action
from coffer.web.admin.charges.common import (
    ChargesRefund,
    ChargesView,
    charge_or_404,
    charge_url,
    charges_page,
    explain,
)
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.common import (
    done,
    form_values,
    not_found,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, text
from coffer.web.admin.desk.members import member_url
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.desk.replay import claim_form, complete_form
from coffer.web.formatting import money

router = APIRouter()

#: Which form field a refusal belongs to (others are shown above the form).
ERROR_FIELDS = {
    "refund_exceeds_unspent": "amount",
    "invalid_amount": "amount",
    "invalid_reason": "reason",
}


@dataclass
class ChargeView:
    service: Service
    charge: Charge
    member: Member
    timeline: list[TimelineEntry]
    refunds: list[Refund]
    refundable: int
    in_flight: Refund | None = None

    @property
    def refundable_text(self) -> str:
        """The unspent amount as typed in the form (major units, no separators)."""
        return format_minor(self.refundable, currency(self.charge.currency))


def load_charge(conn: Connection, service: Service, charge: Charge) -> ChargeView:
    made = refunds.charge_refunds(conn, charge.id)
    return ChargeView(
        service=service,
        charge=charge,
        member=tenancy.get_member_by_id(conn, service.id, charge.member_id),
        timeline=charges.timeline(conn, charge.id),
        refunds=made,
        refundable=refunds.refundable(conn, charge),
        in_flight=next((r for r in made if r.status in REFUND_IN_FLIGHT), None),
    )


async def show_charge(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    charge_id: str,
    *,
    form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> ChargeView:
        service = service_or_404(conn, service_id)
        return load_charge(conn, service, charge_or_404(conn, service, charge_id))

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found(request, ctx, explain(error, translator(request)))
    context: dict[str, Any] = {
        "view": view,
        "form": form,
        "form_key": uuid7().hex,
        "member_url": member_url(view.service, view.member.external_id),
        "code": view.charge.currency,
        "tz": view.service.timezone,
    }
    return charges_page(request, ctx, "admin/charges/charge.html", context, status_code)


@router.get("/charges/{service_id}/{charge_id}")
async def charge_page(
    request: Request, ctx: ChargesView, service_id: str, charge_id: str
) -> HTMLResponse:
    """The charge with its PG timeline and refunds."""
    return await show_charge(request, ctx, service_id, charge_id)


@router.post("/charges/{service_id}/{charge_id}/refund")
async def refund(request: Request, ctx: ChargesRefund, service_id: str, charge_id: str) -> Response:
    """Refund part or all of the charge's unspent cash (the PG cancel follows as a job)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()
    who = Operator.of(ctx)

    def perform(conn: Connection) -> str:
        service = service_or_404(conn, service_id)
        charge = charge_or_404(conn, service, charge_id)
        amount = forms.amount(text(values, "amount"), charge.currency, _)
        reason = forms.reason(text(values, "reason"), _)
        key = claim_form(conn, service.id, values, "charge-refund", who, now, _)
        if key is None:
            return _("This form was already submitted; nothing was done again.")
        made = refund_action.refund_charge(
            conn, service, charge.id, amount=amount, reason=reason, who=who, now=now
        )
        complete_form(conn, service.id, key, {"refund_id": str(made.id)})
        shown = money(made.amount, charge.currency)
        if made.kind == "bank_refund":
            return _(
                "%(amount)s left the member's cash as a bank refund: pay the member back by "
                "bank transfer."
            ) % {"amount": shown}
        return _("%(amount)s left the member's cash; the PG cancel follows in a moment.") % {
            "amount": shown
        }

    try:
        message = await write(request, perform)
    except FormError as error:
        state = FormState.failed(values, error)
        return await show_charge(request, ctx, service_id, charge_id, form=state, status_code=422)
    except CofferError as error:
        if isinstance(error, NotFound) and error.code in ("service_not_found", "charge_not_found"):
            return not_found(request, ctx, explain(error, _))
        bad = FormError(ERROR_FIELDS.get(error.code, "form"), explain(error, _))
        state = FormState.failed(values, bad)
        return await show_charge(
            request, ctx, service_id, charge_id, form=state, status_code=error.status
        )
    return done(charge_url(service_id, charge_id), message)
