"""``/admin/grades``: a service's grade rules (grades.view), their editor and "recompute now"
(grades.manage), and how many members hold each grade.

The editor sends the whole rule set as rows ``grade-N``, ``rank-N``, ``min_paid-N`` (in the
currency's major unit) and ``window_days-N``; empty rows are ignored. A refused set (a bad
field, or ``invalid_grade_rules``) shows the page again with the rows typed and the message
next to the field (422), and nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.grades import service as grades
from coffer.grades.model import MAX_RULES, GradeRule, validate_rules
from coffer.kernel.errors import CofferError, InvalidInput, NotFound
from coffer.kernel.money import currency, format_minor
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.common import (
    admin_page,
    done,
    form_values,
    not_found,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, text
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.grades import actions
from coffer.web.admin.grades.messages import explain, rule_problem
from coffer.web.admin.rendering import flash

router = APIRouter()

GradesView = Annotated[AdminContext, Depends(require("grades.view"))]
GradesManage = Annotated[AdminContext, Depends(require("grades.manage"))]

RULE_FIELDS = ("grade", "rank", "min_paid", "window_days")
#: Empty rows the editor offers below the rules; the most rows a posted form is read for.
EXTRA_ROWS = 2
MAX_ROWS = MAX_RULES + 10
_ZERO = re.compile(r"0+(?:\.0*)?", re.ASCII)
_WHOLE = re.compile(r"\d{1,6}", re.ASCII)


def grades_url(service_id: object) -> str:
    return f"/admin/grades/{service_id}"


@dataclass(frozen=True, slots=True)
class GradesPage:
    services: list[Service]
    service: Service
    rules: list[GradeRule]
    distribution: list[tuple[str, int]]

    @property
    def members(self) -> int:
        return sum(count for _grade, count in self.distribution)


def _load(conn: Connection, service_id: str) -> GradesPage:
    service = service_or_404(conn, service_id)
    return GradesPage(
        tenancy.list_services(conn),
        service,
        grades.rules(conn, service.id),
        grades.distribution(conn, service.id),
    )


def _rows(view: GradesPage, state: FormState | None) -> list[dict[str, str]]:
    """The editor's rows: what was typed after a refusal, else the rules and empty rows."""
    if state is not None:
        used = [
            i
            for i in range(MAX_ROWS)
            if any(state.values.get(f"{name}-{i}", "").strip() for name in RULE_FIELDS)
        ]
        count = min(max(used, default=-1) + 1 + EXTRA_ROWS, MAX_ROWS)
        return [
            {name: state.values.get(f"{name}-{i}", "") for name in RULE_FIELDS}
            for i in range(count)
        ]
    code = currency(view.service.currency)
    rows = [
        {
            "grade": rule.grade,
            "rank": str(rule.rank),
            "min_paid": format_minor(rule.min_paid, code),
            "window_days": str(rule.window_days),
        }
        for rule in reversed(view.rules)
    ]
    blanks = max(EXTRA_ROWS, 3 - len(rows))
    return rows + [dict.fromkeys(RULE_FIELDS, "") for _ in range(blanks)]


async def show_grades(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        view = await read(request, lambda conn: _load(conn, service_id))
    except NotFound:
        return not_found(request, ctx, translator(request)("No such service."))
    context: dict[str, Any] = {
        "view": view,
        "rows": _rows(view, state),
        "form": state,
        "picker_action": "/admin/grades",
        "services": view.services,
        "selected": view.service,
    }
    if state is not None and state.errors:
        context["flashes"] = [{"kind": "error", "text": next(iter(state.errors.values()))}]
    return admin_page(request, ctx, "admin/grades/rules.html", context, status_code)


@router.get("/grades")
async def grades_home(request: Request, ctx: GradesView, service: str | None = None) -> Response:
    """The grades of the chosen service (``?service=``), else of the first one."""
    services = await read(request, tenancy.list_services)
    chosen = pick_service(services, service)
    if chosen is None:
        return admin_page(request, ctx, "admin/grades/no_services.html", {})
    return RedirectResponse(grades_url(chosen.id), status_code=303)


@router.get("/grades/{service_id}")
async def grades_page(request: Request, ctx: GradesView, service_id: str) -> HTMLResponse:
    return await show_grades(request, ctx, service_id)


def _whole(raw: str, name: str, _: Gettext) -> int:
    if not _WHOLE.fullmatch(raw):
        raise FormError(name, _("Enter a whole number."))
    return int(raw)


def _min_paid(raw: str, currency_code: str, name: str, _: Gettext) -> int:
    if _ZERO.fullmatch(raw):
        return 0
    return forms.amount(raw, currency_code, _, name=name)


def parse_rules(values: Mapping[str, Any], currency_code: str, _: Gettext) -> list[GradeRule]:
    """The rule set typed in the editor, checked; or a :class:`FormError` on its field."""
    found: list[GradeRule] = []
    rows: list[int] = []
    for i in range(MAX_ROWS):
        raw = {name: text(values, f"{name}-{i}").strip() for name in RULE_FIELDS}
        if not any(raw.values()):
            continue
        if not raw["grade"]:
            raise FormError(f"grade-{i}", _("Enter a grade."))
        rule = GradeRule(
            raw["grade"],
            _whole(raw["rank"], f"rank-{i}", _),
            _min_paid(raw["min_paid"], currency_code, f"min_paid-{i}", _),
            _whole(raw["window_days"], f"window_days-{i}", _),
        )
        found.append(rule)
        rows.append(i)
    if not found:
        raise FormError("rules", _("Enter at least one rule."))
    try:
        validate_rules(found)
    except InvalidInput as error:
        index, field = error.details.get("index"), error.details.get("field")
        name = f"{field}-{rows[index]}" if isinstance(index, int) else "rules"
        raise FormError(name, rule_problem(str(error.details.get("problem")), _)) from None
    return found


@router.post("/grades/{service_id}/rules")
async def save_rules(request: Request, ctx: GradesManage, service_id: str) -> Response:
    """Replace the rule set (members keep their grades until the next recompute)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> bool:
        service = service_or_404(conn, service_id)
        found = parse_rules(values, service.currency, _)
        return actions.set_rules(conn, service.id, found, who=Operator.of(ctx), now=now)

    try:
        changed = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound):
            return not_found(request, ctx, _("No such service."))
        if isinstance(error, CofferError):
            bad, status = FormError("rules", explain(error, _)), error.status
        else:
            bad, status = error, 422
        state = FormState.failed(values, bad)
        return await show_grades(request, ctx, service_id, state=state, status_code=status)
    message = _("Grade rules saved.") if changed else _("Nothing changed.")
    return done(grades_url(service_id), message)


@router.post("/grades/{service_id}/recompute")
async def recompute_now(request: Request, ctx: GradesManage, service_id: str) -> Response:
    """Regrade every member of the service now, as the daily job does; shows the counts."""
    _ = translator(request)
    rt = runtime(request)
    now = rt.clock.now()

    def load(conn: Connection) -> tuple[Service, bool]:
        service = service_or_404(conn, service_id)
        return service, bool(grades.rules(conn, service.id))

    try:
        service, ruled = await read(request, load)
    except NotFound:
        return not_found(request, ctx, _("No such service."))
    if not ruled:
        response = RedirectResponse(grades_url(service_id), status_code=303)
        flash(response, "error", _("This service has no grade rules: save some first."))
        return response
    result = await run_in_threadpool(
        actions.recompute, rt.db, service.id, who=Operator.of(ctx), now=now
    )
    return done(
        grades_url(service_id),
        _(
            "Grades recomputed: %(changed)s changed, %(unchanged)s unchanged, "
            "%(skipped)s left alone (override)."
        )
        % {
            "changed": result.changed,
            "unchanged": result.unchanged,
            "skipped": result.skipped_overridden,
        },
    )
