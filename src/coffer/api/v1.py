"""The ``/api/v1`` router: every resource, authenticated by API key, errors documented."""

from __future__ import annotations

from fastapi import APIRouter

from coffer.api.errors import ERROR_RESPONSES
from coffer.api.routes import (
    cash,
    catalog,
    charges,
    coupons,
    holds,
    members,
    purchases,
    quotes,
    reads,
    usage,
    webhooks,
)

PREFIX = "/api/v1"


def v1_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, responses=ERROR_RESPONSES)
    for module in (
        members,
        cash,
        holds,
        charges,
        quotes,
        purchases,
        reads,
        usage,
        webhooks,
        catalog,
        coupons,
    ):
        router.include_router(module.router)
    return router
