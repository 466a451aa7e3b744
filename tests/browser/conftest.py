"""Browser-test fixtures: one real server per test module, one chromium for the session.

- ``live_server`` (module): a :class:`LiveServer` — ``coffer.server.create_server`` served by
  uvicorn in a thread on a free 127.0.0.1 port, on a freshly migrated database seeded by
  :mod:`tests.browser.world`. SQLite; a module can run on both databases by overriding the
  fixture (see :func:`run_live_server`).
- ``browser`` (session): Debian's chromium driven by Playwright (``COFFER_CHROMIUM`` overrides
  ``/usr/bin/chromium``; ``make test`` installs it). Without it the browser tests skip, except
  under CI (``CI=true``), where that is an error.
- ``new_page(...)``: a page in a fresh browser context (own cookies), desktop or phone sized.
- ``screenshot(page, name, docs=False)``: saves ``test-artifacts/screenshots/<name>.png``; with
  ``COFFER_DOCS_SCREENSHOTS=1`` (``scripts/screenshots.sh``) ``docs=True`` shots also go to
  ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import func, select

from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.engine import sqlite_url
from coffer.migrations import upgrade
from coffer.tenancy.links import build_link, link_signature
from coffer.tenancy.tables import cash_sessions
from tests.browser.live import ShiftedClock, serve
from tests.browser.world import World, seed
from tests.databases import (
    create_postgresql_database,
    drop_postgresql_database,
    require_postgresql_url,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("COFFER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass
class LiveServer:
    base_url: str
    runtime: Runtime
    clock: ShiftedClock
    world: World

    def link(
        self,
        member: str,
        *,
        ts: int | None = None,
        service: str | None = None,
        secret: str | None = None,
    ) -> str:
        """A signed link (now, Demo Game, its secret unless told otherwise)."""
        ts = int(self.clock.now().timestamp()) if ts is None else ts
        if service is None:
            return build_link(
                self.base_url, secret or self.world.link_secret, self.world.service_id, member, ts
            )
        sig = link_signature(secret or self.world.link_secret, service, member, ts)
        query = httpx.QueryParams(service=service, member=member, ts=str(ts), sig=sig)
        return f"{self.base_url}/cash/enter?{query}"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {self.world.api_key}"},
        )

    def session_count(self) -> int:
        count = self.runtime.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(cash_sessions)).scalar()
        )
        return int(count or 0)


def run_live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Start a live server; ``request.param`` (when parametrized) names the database.

    A module that wants both databases overrides the fixture::

        @pytest.fixture(scope="module", params=DIALECTS)
        def live_server(request, tmp_path_factory):
            yield from run_live_server(request, tmp_path_factory)
    """
    dialect = getattr(request, "param", "sqlite")
    data_dir = tmp_path_factory.mktemp("live")
    server_url = ""
    if dialect == "postgresql":
        server_url = require_postgresql_url()
        url = create_postgresql_database(server_url, f"coffer_browser_{os.getpid()}")
    else:
        url = sqlite_url(data_dir / "coffer.sqlite3")
    clock = ShiftedClock()
    settings = Settings.from_env({"COFFER_DATA_DIR": str(data_dir), "COFFER_DATABASE_URL": url})
    rt = Runtime.from_settings(settings, clock=clock)
    try:
        upgrade(rt.db.engine)
        world = seed(rt)
        with serve(rt) as base_url:
            yield LiveServer(base_url, rt, clock, world)
    finally:
        rt.db.dispose()
        if dialect == "postgresql":
            drop_postgresql_database(server_url, url)


@pytest.fixture(scope="module")
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server (SQLite) for the module."""
    yield from run_live_server(request, tmp_path_factory)


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} not found; `make test` (scripts/ensure-chromium.sh) installs it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser tests: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """``new_page(phone=False, locale="en-US")``: a page in a fresh context, closed afterwards."""
    contexts: list[BrowserContext] = []

    def make(*, phone: bool = False, locale: str = "en-US", **options: Any) -> Page:
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            is_mobile=phone,
            has_touch=phone,
            locale=locale,
            **options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


def screenshot(page: Page, name: str, *, docs: bool = False) -> None:
    """Save a screenshot of the page as it is now (see the module docstring for where)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if docs and os.environ.get("COFFER_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"))
