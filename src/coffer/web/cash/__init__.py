"""The member cash web (``/cash``): a member's balance and history, reached by a signed link."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/cash", include_in_schema=False)
