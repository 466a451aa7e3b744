"""The grade forms of the CS member page (``grades.override``): override and clear.

As the desk's member actions: a success goes back to the member page (303) with a flash; a
refusal shows the member page again with the form's error and the values typed (4xx), and
nothing changed (the change and its audit row are one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
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
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.grades import actions
from coffer.web.admin.grades.messages import explain

router = APIRouter()

GradeOverride = Annotated[AdminContext, Depends(require("grades.override"))]

#: Which form field a refusal belongs to (others are shown on the whole form).
ERROR_FIELDS = {
    "invalid_grade": "grade",
    "unknown_grade": "grade",
    "invalid_until": "until",
    "missing_reason": "reason",
    "invalid_reason": "reason",
}

#: (conn, service, member, translate) -> the success message.
Perform = Callable[[Connection, Service, Member, Gettext], str]


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

    def work(conn: Connection) -> str:
        service = service_or_404(conn, service_id)
        member = tenancy.get_member(conn, service.id, member_key(external_id))
        return perform(conn, service, member, _)

    try:
        message = await write(request, work)
    except FormError as error:
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, error, 422
        )
    except CofferError as error:
        if isinstance(error, NotFound) and error.code in ("member_not_found", "service_not_found"):
            return not_found(request, ctx, _("No such member in this service."))
        bad = FormError(ERROR_FIELDS.get(error.code, "form"), explain(error, _))
        return await refused_member_form(
            request, ctx, service_id, external_id, form, values, bad, error.status
        )
    return done(f"/admin/members/{service_id}/{quote(external_id, safe='')}", message)


def _until(raw: str, service: Service, now: datetime, _: Gettext) -> datetime | None:
    """The end of the last day typed (in the service's time zone), which must be to come."""
    last_day = forms.day(raw, _, name="until")
    if last_day is None:
        return None
    until = forms.end_of_day(last_day, service.timezone)
    if until <= now:
        raise FormError("until", _("Choose a day from today on."))
    return until


@router.post("/members/{service_id}/{external_id}/grade-override")
async def override(
    request: Request, ctx: GradeOverride, service_id: str, external_id: str
) -> Response:
    """Set the member's grade by hand, optionally until the end of a day."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, member: Member, _: Gettext) -> str:
        grade = text(values, "grade").strip()
        if not grade:
            raise FormError("grade", _("Choose a grade."))
        until = _until(text(values, "until"), service, now, _)
        reason = forms.reason(text(values, "reason"), _)
        actions.override(
            conn, service.id, member, grade, until=until, reason=reason, who=Operator.of(ctx),
            now=now,
        )  # fmt: skip
        return _("The member's grade is now %(grade)s (set by hand).") % {"grade": grade}

    return await _act(request, ctx, service_id, external_id, "grade_override", values, perform)


@router.post("/members/{service_id}/{external_id}/grade-override/clear")
async def clear_override(
    request: Request, ctx: GradeOverride, service_id: str, external_id: str
) -> Response:
    """End the override now; the member gets the grade the rules give."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, service: Service, member: Member, _: Gettext) -> str:
        reason = forms.reason(text(values, "reason"), _)
        grade = actions.clear_override(
            conn, service.id, member, reason=reason, who=Operator.of(ctx), now=now
        )
        return _("The override is cleared; the member's grade is %(grade)s.") % {"grade": grade}

    return await _act(request, ctx, service_id, external_id, "grade_clear", values, perform)
