"""Liveness and readiness probes (no API key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from coffer.api.context import RuntimeDep
from coffer.api.errors import ErrorEnvelope, error_response, logger
from coffer.api.responses import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": ErrorEnvelope, "description": "The database is unreachable."}},
)
def readyz(runtime: RuntimeDep) -> Health | JSONResponse:
    """The database answers ``SELECT 1``; otherwise 503 ``database_unavailable``."""
    try:
        runtime.db.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())
    except (SQLAlchemyError, OSError) as error:
        logger.warning("readiness check failed: %s", error)
        return error_response(503, "database_unavailable", "The database is not reachable.")
    return Health(status="ready")
