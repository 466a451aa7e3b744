"""The grades admin's router (see the package's docstring)."""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.grades import member_actions, rules_page

router = APIRouter()
router.include_router(rules_page.router)
router.include_router(member_actions.router)
