"""Use-cancellation from the CS member page: a whole purchase, or one of its lines.

``POST /admin/members/{service}/{external_id}/purchases/{purchase_id}/cancel`` (permission
``purchases.cancel``: operator, cs) with a reason, the form's ``form_key`` and, to cancel one line,
``line_id``. It calls :func:`coffer.purchases.cancelling.cancel` (cash back to the exact lots it
came from, entitlements revoked, CP revenue reversed) and writes an audit row
``purchases.cancel`` in the same transaction. A refusal (window closed, in use, already
cancelled, member closed) shows the member page again with the reason and changes nothing. A
purchase the member neither made nor received is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from coffer import app
from coffer.audit import service as audit
from coffer.kernel.errors import CofferError, NotFound
from coffer.purchases import cancelling, records
from coffer.purchases.model import Purchase
from coffer.tenancy import service as tenancy
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.common import (
    done,
    form_values,
    member_key,
    not_found,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.admin.desk.member_actions import refused_member_form
from coffer.web.admin.desk.messages import explain as desk_explain
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.desk.replay import claim_form, complete_form
from coffer.web.formatting import money

router = APIRouter()

PurchasesCancel = Annotated[AdminContext, Depends(require("purchases.cancel"))]


def explain(error: CofferError, _: Gettext) -> str:
    """Why a cancellation was refused, for a CS agent."""
    known = {
        "cancel_window_closed": _("The cancellation window of this purchase has closed."),
        "purchase_line_in_use": _(
            "This purchase has been used (an item consumed, units or time spent, or a pass "
            "started): it cannot be cancelled."
        ),
        "line_already_cancelled": _("This purchase has already been cancelled."),
        "purchase_not_found": _("No such purchase for this member."),
        "purchase_line_not_found": _("No such line in this purchase."),
    }
    return known.get(error.code) or desk_explain(error, _)


def _statuses(purchase: Purchase) -> dict[str, Any]:
    return {
        "status": purchase.status,
        "lines": {str(line.id): line.status for line in purchase.lines},
    }


def _purchase_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("purchase_not_found", "No such purchase in this service.") from None


@router.post("/members/{service_id}/{external_id}/purchases/{purchase_id}/cancel")
async def cancel_purchase(
    request: Request, ctx: PurchasesCancel, service_id: str, external_id: str, purchase_id: str
) -> Response:
    """Cancel the purchase (or the line ``line_id``): cash back, entitlements revoked."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()
    who = Operator.of(ctx)
    form = f"cancel-{purchase_id}"

    def perform(conn: Connection) -> str:
        service = service_or_404(conn, service_id)
        member = tenancy.get_member(conn, service.id, member_key(external_id))
        pid = _purchase_id(purchase_id)
        found = records.get_purchase(conn, service.id, pid, with_draws=False)
        if member.id not in (found.member_id, found.recipient_id):
            raise NotFound("purchase_not_found", "No such purchase for this member.")
        raw_line = text(values, "line_id").strip()
        line_ids = [forms.object_id(raw_line, _, name="line_id")] if raw_line else None
        reason = forms.reason(text(values, "reason"), _)
        key = claim_form(conn, service.id, values, f"cancel:{pid}", who, now, _)
        if key is None:
            return _("This form was already submitted; nothing was done again.")
        buyer = app.member_wallet_by_id(conn, service, found.member_id, spending=False)
        after = cancelling.cancel(
            conn, service, pid, line_ids, buyer=buyer, actor=who.journal_actor, reason=reason,
            now=now,
        )  # fmt: skip
        audit.record(
            conn, actor=who.audit_actor, action="purchases.cancel", target_type="purchase",
            target_id=str(pid), service_id=service.id, before=_statuses(found),
            after=_statuses(after), reason=reason, address=who.address, now=now,
        )  # fmt: skip
        complete_form(conn, service.id, key, {"purchase_id": str(pid), "status": after.status})
        was = {line.id: line.status for line in found.lines}
        back = sum(
            line.amount
            for line in after.lines
            if line.status == "cancelled" and was.get(line.id) != "cancelled"
        )
        return _("Cancelled: %(amount)s went back to the member's cash.") % {
            "amount": money(back, service.currency)
        }

    try:
        message = await write(request, perform)
    except FormError as error:
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, error, 422
        )
    except CofferError as error:
        if isinstance(error, NotFound) and error.code in (
            "member_not_found",
            "service_not_found",
            "purchase_not_found",
        ):
            return not_found(request, ctx, explain(error, _))
        bad = FormError("form", explain(error, _))
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, bad, error.status
        )
    return done(f"/admin/members/{service_id}/{quote(external_id, safe='')}", message)
