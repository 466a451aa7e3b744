"""The admin pages for daily work: dashboard, members (the CS desk), approvals, services."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
