"""The admin web (``/admin``): operators, CS agents, marketers and accountants.

Every route declares its permission with :func:`coffer.web.admin.auth.require`; only the
routes in :data:`coffer.web.admin.auth.PUBLIC_ROUTES` (the sign-in form) are open without a
session. :func:`install` makes refusals (403 pages, redirects to sign in) proper pages.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from coffer.web.admin import audit_log, auth_routes, catalog, charges, desk, pg, promotions
from coffer.web.admin.auth import install_refusals
from coffer.web.admin.coupons import router as coupons_router
from coffer.web.admin.desk import purchase_actions
from coffer.web.admin.grades.routes import router as grades_router

router = APIRouter(prefix="/admin", include_in_schema=False)
router.include_router(auth_routes.router)
router.include_router(audit_log.router)
router.include_router(desk.router)
router.include_router(purchase_actions.router)
router.include_router(pg.router)
router.include_router(charges.router)
router.include_router(catalog.router)
router.include_router(coupons_router)
router.include_router(promotions.router)
router.include_router(grades_router)


def install(app: FastAPI) -> None:
    """What the admin web needs from the app beyond its routes."""
    install_refusals(app)
