"""Who may open an admin page: sessions, CSRF and the permission every route declares.

Use ``ctx: Annotated[AdminContext, Depends(require("cash.grant"))]`` on every admin route. The
dependency finds the session of the cookie, checks the CSRF token on every method but
GET/HEAD/OPTIONS (form field ``csrf_token`` or header ``X-CSRF-Token``), then the permission
matrix (:mod:`coffer.admins.permissions`). A refusal is raised before the handler runs, so
nothing changes:

- no valid session: GET → 303 to ``/admin/login?next=<path>``; other methods → 401
  (htmx requests get 401 with ``HX-Redirect`` to the sign-in page, so the whole page goes there);
- bad or missing CSRF token → 403;
- a role without the permission → a 403 page.

The callable carries ``.permission`` so that :func:`route_permission` (and the test that walks
every ``/admin`` route) can tell what each route needs.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from coffer.admins import service as admins
from coffer.admins.model import AdminSession, same_token
from coffer.admins.permissions import MATRIX
from coffer.app import Runtime
from coffer.web.admin import auth_refusals
from coffer.web.admin.auth_context import AdminContext
from coffer.web.admin.auth_cookies import LOGIN_PATH, session_token

__all__ = [
    "PUBLIC_ROUTES",
    "AdminContext",
    "AdminRefusal",
    "admin_routes",
    "require",
    "route_permission",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The only admin routes anyone may open without a session (method, path).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/admin/login"), ("POST", "/admin/login")}
)


class AdminRefusal(HTTPException):
    """A refused admin request; ``response`` is the page (or redirect) to send instead."""

    def __init__(self, response: Response) -> None:
        # Only the headers that still make sense if the refusal is sent as a JSON error.
        kept = {k: v for k, v in response.headers.items() if k in ("location", "hx-redirect")}
        super().__init__(response.status_code, headers=kept)
        self.response = response


async def _send_refusal(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminRefusal)
    return exc.response


def install_refusals(app: FastAPI) -> None:
    """Send refusals as pages; without this they would be the API's JSON error envelope."""
    app.add_exception_handler(AdminRefusal, _send_refusal)


def runtime(request: Request) -> Runtime:
    value = request.app.state.runtime
    assert isinstance(value, Runtime)
    return value


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


class _Require:
    """The dependency :func:`require` returns."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"require({self.permission!r})"

    async def __call__(self, request: Request) -> AdminContext:
        rt = runtime(request)
        now = rt.clock.now()
        token = session_token(request)
        session: AdminSession | None = None
        if token is not None:
            session = await run_in_threadpool(
                rt.db.read, lambda conn: admins.find_session(conn, token, now=now)
            )
        if session is None:
            raise AdminRefusal(_not_signed_in(request))
        ctx = AdminContext(
            admin_id=session.admin.id,
            email=session.admin.email,
            role=session.admin.role,
            csrf_token=session.csrf_token,
            address=client_address(request),
            session_id=session.id,
        )
        if request.method not in SAFE_METHODS:
            presented = request.headers.get(CSRF_HEADER) or await _form_token(request)
            if not same_token(presented, session.csrf_token):
                raise AdminRefusal(auth_refusals.csrf_failed(request, ctx))
        if not ctx.can(self.permission):
            raise AdminRefusal(auth_refusals.denied(request, ctx, self.permission))
        if admins.needs_touch(session, now):
            await run_in_threadpool(
                rt.db.write, lambda conn: admins.touch_session(conn, session.id, now=now)
            )
        return ctx


def require(permission: str) -> _Require:
    """The dependency for a route that needs ``permission``; unknown names fail at import."""
    if permission not in MATRIX:
        raise ValueError(f"unknown admin permission {permission!r}; add it to MATRIX first")
    return _Require(permission)


async def _form_token(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    try:
        form = await request.form()
    except Exception:  # a malformed body simply carries no token
        return None
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


def _not_signed_in(request: Request) -> Response:
    target = login_url(request)
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method in SAFE_METHODS:
        return RedirectResponse(target, status_code=303)
    return auth_refusals.signed_out(request, target)


def admin_routes(app: FastAPI) -> list[RouteContext]:
    """Every route of ``app`` whose path is under ``/admin`` (through included routers too)."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if (route.path or "") == "/admin" or (route.path or "").startswith("/admin/")
    ]


def route_permission(route: BaseRoute | RouteContext) -> str | None:
    """The permission a route declared through :func:`require`, or None."""
    dependant = getattr(route, "dependant", None)
    return _declared(dependant) if isinstance(dependant, Dependant) else None


def _declared(dependant: Dependant) -> str | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, _Require):
            return dependency.call.permission
        found = _declared(dependency)
        if found is not None:
            return found
    return None


def is_public(route: BaseRoute | RouteContext) -> bool:
    """Whether a route is on the public allow-list (with every one of its methods)."""
    methods = getattr(route, "methods", None) or set()
    path = getattr(route, "path", None)
    return bool(methods) and all((method, path) in PUBLIC_ROUTES for method in methods)
