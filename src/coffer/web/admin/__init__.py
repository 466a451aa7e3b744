"""The admin web (``/admin``): operators, CS agents, marketers and accountants."""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin import desk

router = APIRouter(prefix="/admin", include_in_schema=False)
router.include_router(desk.router)
