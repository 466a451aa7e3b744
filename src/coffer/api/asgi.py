"""The ASGI application of the open API: ``/api/v1``, ``/healthz``, ``/readyz``, OpenAPI docs."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from coffer.api.errors import install_error_handlers
from coffer.api.health import router as health_router
from coffer.api.pg_public import router as pg_router
from coffer.api.v1 import v1_router
from coffer.app import Runtime

DESCRIPTION = """\
Prepaid cash wallets for the members of your service.

Authenticate with `Authorization: Bearer <api key>`. Amounts are JSON integers in the
currency's minor unit. Every POST that moves cash needs an `Idempotency-Key` header; a retry
with the same key and body returns the first response (`Idempotent-Replayed: true`), and only
successful responses are kept, so a request that failed can be retried with its key. Errors
are `{"error": {"code", "message", "details"}}` with a stable `code`.
"""


def _version() -> str:
    try:
        return version("coffer")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


#: JSON-schema keywords whose integer values FastAPI's OpenAPI models turn into floats.
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})


def _integral_bounds(node: Any) -> None:
    """Write ``"minimum": 1`` rather than ``1.0`` (amounts are integers; keep the document so)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)


def _with_integral_bounds(app: FastAPI) -> Callable[[], dict[str, Any]]:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; fixing it again is a no-op
        _integral_bounds(schema)
        return schema

    return openapi


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Coffer",
        version=_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(v1_router())
    app.include_router(health_router)
    app.include_router(pg_router)
    app.openapi = _with_integral_bounds(app)  # type: ignore[method-assign]
    return app
