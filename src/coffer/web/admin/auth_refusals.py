"""The pages an admin sees when a request is refused (the handler never ran)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.web.admin.auth_context import AdminContext
from coffer.web.admin.labels import PERMISSION_LABELS
from coffer.web.admin.rendering import admin_page, private
from coffer.web.templating import render


def denied(request: Request, ctx: AdminContext, permission: str) -> HTMLResponse:
    context = {"problem": "denied", "action": PERMISSION_LABELS.get(permission, permission)}
    return admin_page(request, ctx, "admin/refused.html", context, status_code=403)


def csrf_failed(request: Request, ctx: AdminContext) -> HTMLResponse:
    return admin_page(request, ctx, "admin/refused.html", {"problem": "csrf"}, status_code=403)


def signed_out(request: Request, login_url: str) -> HTMLResponse:
    response = render(request, "admin/signed_out.html", {"login_url": login_url}, status_code=401)
    private(response)
    return response
