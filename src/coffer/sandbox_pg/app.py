"""The sandbox PG's ASGI app: routers, error handlers, fault middleware, webhook sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from coffer.kernel.clock import Clock, SystemClock
from coffer.sandbox_pg import admin, api, checkout
from coffer.sandbox_pg.config import SandboxSettings
from coffer.sandbox_pg.faults import FaultBox
from coffer.sandbox_pg.http_common import error_response, install_error_handlers
from coffer.sandbox_pg.sender import WebhookSender
from coffer.sandbox_pg.service import Sandbox
from coffer.sandbox_pg.store import Store, ensure_default_merchant, open_store


def create_app(settings: SandboxSettings, clock: Clock | None = None) -> FastAPI:
    engine = open_store(settings.data_dir)
    ensure_default_merchant(settings.data_dir, engine)
    box = Sandbox(Store(engine), clock or SystemClock(), FaultBox(), settings)
    sender = WebhookSender(box.store, settings, box.clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sender.start()
        try:
            yield
        finally:
            sender.stop()
            engine.dispose()

    app = FastAPI(title="Coffer sandbox PG", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sandbox = box
    install_error_handlers(app)
    app.include_router(checkout.router)
    app.include_router(api.router)
    app.include_router(admin.router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)
        current = box.faults.current
        if current.latency_ms:
            await asyncio.sleep(current.latency_ms / 1000)
        if box.faults.in_outage(box.clock.now()):
            return error_response("SERVICE_UNAVAILABLE", "the PG is down (injected outage)", 503)
        if box.faults.draw_error():
            return error_response("INTERNAL_ERROR", "injected server error", 500)
        return await call_next(request)

    return app
