"""The CS actions on a member page: each a POST with a required reason.

A success goes back to the member page (303) with a flash; a refusal shows the member page again
with the form's error and the values typed, with a 4xx status, and nothing changed (the whole
action is one transaction, its audit row included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import cash_actions, forms
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
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, text
from coffer.web.admin.desk.members import show_member
from coffer.web.admin.desk.messages import explain
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.desk.replay import claim_form, complete_form
from coffer.web.formatting import money

router = APIRouter()

#: Which form field a domain error belongs to (others are shown above the forms).
ERROR_FIELDS = {
    "insufficient_funds": "amount",
    "invalid_amount": "amount",
    "invalid_expiry": "expires_on",
    "journal_not_found": "journal_id",
    "not_reversible": "journal_id",
    "already_reversed": "journal_id",
    "hold_not_found": "hold_id",
    "hold_member_mismatch": "hold_id",
    "hold_committed": "hold_id",
    "hold_released": "hold_id",
    "hold_expired": "hold_id",
    "invalid_reason": "reason",
    "missing_reason": "reason",
}

#: (conn, service, translate) -> the success message. Raises FormError or a domain error.
Perform = Callable[[Connection, Service, Gettext], str]


async def _act(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    external_id: str,
    form: str,
    values: dict[str, Any],
    perform: Perform,
) -> Response:
    _ = translator(request)
    try:
        member_key(external_id)
        message = await write(
            request, lambda conn: perform(conn, service_or_404(conn, service_id), _)
        )
    except FormError as error:
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, error, 422
        )
    except CofferError as error:
        if isinstance(error, NotFound) and error.code in ("member_not_found", "service_not_found"):
            return not_found(request, ctx, explain(error, _))
        field = ERROR_FIELDS.get(error.code, "form")
        bad = FormError(field, explain(error, _))
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, bad, error.status
        )
    return done(f"/admin/members/{service_id}/{quote(external_id, safe='')}", message)


async def refused_member_form(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    external_id: str,
    form: str,
    values: dict[str, Any],
    error: FormError,
    status_code: int,
) -> Response:
    return await show_member(
        request,
        ctx,
        service_id,
        external_id,
        forms={form: FormState.failed(values, error)},
        errors_summary=error.message,
        status_code=status_code,
    )


def _who(ctx: AdminContext) -> Operator:
    return Operator.of(ctx)


@router.post("/members/{service_id}/{external_id}/grant")
async def grant(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("cash.grant"))],
    service_id: str,
    external_id: str,
) -> Response:
    """Grant bonus (or paid) cash; at or above the service's threshold, ask for approval."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        amount = forms.amount(text(values, "amount"), service.currency, _)
        kind = forms.choice(text(values, "cash_kind"), ("bonus", "paid"), _, name="cash_kind")
        last_day = forms.day(text(values, "expires_on"), _, name="expires_on")
        reason = forms.reason(text(values, "reason"), _)
        key = claim_form(conn, service.id, values, "grant", _who(ctx), now, _)
        if key is None:
            return _("This form was already submitted; nothing was done again.")
        outcome = cash_actions.grant(
            conn,
            service,
            external_id,
            amount=amount,
            kind=kind,
            reason=reason,
            expires_at=forms.end_of_day(last_day, service.timezone) if last_day else None,
            who=_who(ctx),
            now=now,
        )
        complete_form(
            conn,
            service.id,
            key,
            {
                "journal_id": str(outcome.journal_id) if outcome.journal_id else None,
                "approval_id": str(outcome.approval_id) if outcome.approval_id else None,
            },
        )
        shown = money(amount, service.currency)
        if outcome.approval_id is not None:
            return _("The grant of %(amount)s waits for a second admin's approval.") % {
                "amount": shown
            }
        if kind == "paid":
            return _("Granted %(amount)s of paid cash.") % {"amount": shown}
        return _("Granted %(amount)s of bonus cash.") % {"amount": shown}

    return await _act(request, ctx, service_id, external_id, "grant", values, perform)


@router.post("/members/{service_id}/{external_id}/revoke")
async def revoke(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("cash.revoke"))],
    service_id: str,
    external_id: str,
) -> Response:
    """Take cash back (a spend referenced ``admin-revoke``, the reason as its memo)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        amount = forms.amount(text(values, "amount"), service.currency, _)
        reason = forms.reason(text(values, "reason"), _)
        key = claim_form(conn, service.id, values, "revoke", _who(ctx), now, _)
        if key is None:
            return _("This form was already submitted; nothing was done again.")
        journal_id = cash_actions.revoke(
            conn, service, external_id, amount=amount, reason=reason, who=_who(ctx), now=now
        )
        complete_form(conn, service.id, key, {"journal_id": str(journal_id)})
        return _("Revoked %(amount)s.") % {"amount": money(amount, service.currency)}

    return await _act(request, ctx, service_id, external_id, "revoke", values, perform)


@router.post("/members/{service_id}/{external_id}/reverse")
async def reverse(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("cash.reverse"))],
    service_id: str,
    external_id: str,
) -> Response:
    """Reverse one of the member's spends: the cash goes back to the lots it came from."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        spend_id = forms.object_id(text(values, "journal_id"), _, name="journal_id")
        reason = forms.reason(text(values, "reason"), _)
        cash_actions.reverse(
            conn, service, external_id, spend_id, reason=reason, who=_who(ctx), now=now
        )
        return _("The spend was reversed.")

    return await _act(request, ctx, service_id, external_id, "reverse", values, perform)


@router.post("/members/{service_id}/{external_id}/release-hold")
async def release_hold(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("holds.release"))],
    service_id: str,
    external_id: str,
) -> Response:
    """Release an active hold: its cash is available to the member again."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        hold_id = forms.object_id(text(values, "hold_id"), _, name="hold_id")
        reason = forms.reason(text(values, "reason"), _)
        cash_actions.release_hold(
            conn, service, external_id, hold_id, reason=reason, who=_who(ctx), now=now
        )
        return _("The hold was released.")

    return await _act(request, ctx, service_id, external_id, "release", values, perform)


@router.post("/members/{service_id}/{external_id}/status")
async def change_status(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("members.status"))],
    service_id: str,
    external_id: str,
) -> Response:
    """Suspend or reactivate the member."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, _: Gettext) -> str:
        status = forms.choice(text(values, "status"), ("suspended", "active"), _, name="status")
        reason = forms.reason(text(values, "reason"), _)
        cash_actions.set_status(
            conn, service, external_id, status, reason=reason, who=_who(ctx), now=now
        )
        if status == "suspended":
            return _("The member is suspended.")
        return _("The member is active again.")

    return await _act(request, ctx, service_id, external_id, "status", values, perform)
