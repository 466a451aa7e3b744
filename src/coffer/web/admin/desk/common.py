"""What every desk page shares: the runtime, the service being looked at, refusals as pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from coffer.app import Runtime
from coffer.kernel.errors import InvalidInput, NotFound
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service, validate_external_id
from coffer.web.admin.auth import runtime
from coffer.web.admin.auth_context import AdminContext
from coffer.web.admin.rendering import admin_page, flash, translator

T = TypeVar("T")

__all__ = ["admin_page", "runtime", "translator"]


def parse_id(raw: str | None) -> UUID | None:
    """A UUID from a path or query value, or None when it is not one."""
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        return None


def service_or_404(conn: Connection, raw_id: str) -> Service:
    """The service named by a path segment; a malformed id is just as unknown as a missing one."""
    service_id = parse_id(raw_id)
    if service_id is None:
        raise NotFound("service_not_found", "No such service.")
    return tenancy.get_service(conn, service_id)


def member_key(external_id: str) -> str:
    """An external id from a URL, or ``member_not_found`` for one no member can have.

    Checked before any query: text the database cannot store (NUL) must be a 404, not a 500.
    """
    try:
        return validate_external_id(external_id)
    except InvalidInput:
        raise NotFound("member_not_found", "No such member in this service.") from None


def pick_service(services: list[Service], raw_id: str | None) -> Service | None:
    """The service chosen in the picker (``?service=``), else the first one."""
    wanted = parse_id(raw_id)
    for service in services:
        if service.id == wanted:
            return service
    return services[0] if services else None


async def read(request: Request, work: Callable[[Connection], T]) -> T:
    rt: Runtime = runtime(request)
    return await run_in_threadpool(rt.db.read, work)


async def write(request: Request, work: Callable[[Connection], T]) -> T:
    rt: Runtime = runtime(request)
    return await run_in_threadpool(rt.db.write, work)


async def form_values(request: Request) -> dict[str, Any]:
    """The posted form as a plain dict (last value wins for repeated names)."""
    form = await request.form()
    return {key: value for key, value in form.items()}


def not_found(request: Request, ctx: AdminContext, message: str | None = None) -> HTMLResponse:
    _ = translator(request)
    return admin_page(
        request,
        ctx,
        "admin/desk/not_found.html",
        {"message": message or _("There is nothing here.")},
        status_code=404,
    )


def done(url: str, text: str) -> RedirectResponse:
    """Back to ``url`` (303), showing ``text`` as a success flash."""
    response = RedirectResponse(url, status_code=303)
    flash(response, "ok", text)
    return response
