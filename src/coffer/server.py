"""The whole HTTP server: the open API plus the admin and cash webs (``coffer serve``/``up``).

``api`` and ``web`` are independent entry points that must not import each other; this module,
above both, puts them in one ASGI app.
"""

from __future__ import annotations

from fastapi import FastAPI

from coffer.api.asgi import create_app
from coffer.app import Runtime
from coffer.web.mount import mount_web


def create_server(runtime: Runtime) -> FastAPI:
    app = create_app(runtime)
    mount_web(app, runtime)
    return app
