"""Adds the webs to the ASGI app: vendored static files, the language switch, /admin, /cash."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coffer.app import Runtime
from coffer.web import admin, cash, language

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI, runtime: Runtime) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(language.router)
    app.include_router(admin.router)
    admin.install(app)
    app.include_router(cash.router)
