"""``/admin/audit``: browse and filter the audit log; ``/admin/audit/verify``: check the chain.

Dates in the filters are calendar days in :data:`DISPLAY_TIMEZONE`, the zone every admin page
shows times in; ``to`` includes its whole day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.audit import service as audit
from coffer.audit.model import AuditPage
from coffer.kernel.text import is_storable_text
from coffer.web.admin.auth import AdminContext, require, runtime
from coffer.web.admin.rendering import admin_page, translator
from coffer.web.templating import render

router = APIRouter()

DISPLAY_TIMEZONE = "Asia/Seoul"
PAGE_SIZE = 50
FILTERS = ("actor", "action", "target", "service", "from", "to")
_TEXT_MAX = 320


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(DISPLAY_TIMEZONE))


def _read_filters(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """(the filters as typed, errors by field); a bad field is reported, not ignored."""
    _ = translator(request)
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in FILTERS:
        raw = request.query_params.get(name, "").strip()
        if len(raw) > _TEXT_MAX or not is_storable_text(raw):
            errors[name] = _("This value is too long or has characters that are not allowed.")
            raw = ""
        values[name] = raw
    for name in ("from", "to"):
        if values[name] and _day(values[name]) is None:
            errors[name] = _("Give a date as YYYY-MM-DD.")
    if values["service"]:
        try:
            UUID(values["service"])
        except ValueError:
            errors["service"] = _("Give a service id (a UUID).")
    return values, errors


@router.get("/audit")
async def audit_page(
    request: Request, ctx: Annotated[AdminContext, Depends(require("audit.view"))]
) -> HTMLResponse:
    values, errors = _read_filters(request)
    before_raw = request.query_params.get("before", "")
    before_seq = int(before_raw) if before_raw.isdigit() and len(before_raw) < 19 else None
    date_from, date_to = _day(values["from"]), _day(values["to"])
    rt = runtime(request)
    page = AuditPage([], None)
    if not errors:
        page = await run_in_threadpool(
            rt.db.read,
            lambda conn: audit.browse(
                conn,
                actor=values["actor"] or None,
                action=values["action"] or None,
                service_id=UUID(values["service"]) if values["service"] else None,
                target=values["target"] or None,
                date_from=_start_of(date_from) if date_from else None,
                date_to=_start_of(date_to + timedelta(days=1)) if date_to else None,
                before_seq=before_seq,
                limit=PAGE_SIZE,
            ),
        )
    kept = {name: value for name, value in values.items() if value and name not in errors}
    next_url = (
        "/admin/audit?" + urlencode({**kept, "before": page.next_before_seq})
        if page.next_before_seq is not None
        else None
    )
    return admin_page(
        request,
        ctx,
        "admin/audit.html",
        {
            "entries": page.entries,
            "filters": values,
            "errors": errors,
            "next_url": next_url,
            "first_url": ("/admin/audit?" + urlencode(kept)) if before_seq else None,
            "timezone": DISPLAY_TIMEZONE,
        },
        status_code=400 if errors else 200,
    )


@router.get("/audit/verify")
async def audit_verify(
    request: Request, ctx: Annotated[AdminContext, Depends(require("audit.view"))]
) -> HTMLResponse:
    """The chain indicator at the top of the audit page (loaded by htmx: it reads every row)."""
    rt = runtime(request)
    broken = await run_in_threadpool(rt.db.read, audit.verify)
    return render(request, "admin/audit_verify.html", {"broken": broken, "ctx": ctx})
