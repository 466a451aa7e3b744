"""Helpers for admin-web tests: accounts, a test client on the whole server, signing in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from coffer.admins import service as admins
from coffer.admins.model import AdminUser
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.server import create_server

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_admin(
    db: Database, clock: ManualClock, role: str, email: str | None = None, password: str = PASSWORD
) -> AdminUser:
    return db.write(
        lambda conn: admins.create_admin(
            conn,
            email=email or f"{role}@example.com",
            role=role,
            password=password,
            now=clock.now(),
        )
    )


def client(
    db: Database, clock: ManualClock, *, base_url: str = "http://testserver", lang: str = "en"
) -> TestClient:
    """A client on the whole server (no redirects followed), reading pages in ``lang``."""
    runtime = Runtime(Settings.from_env({}), db, clock)
    web = TestClient(create_server(runtime), base_url=base_url, follow_redirects=False)
    web.headers["Accept-Language"] = lang
    return web


def form_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def post_login(
    web: TestClient, email: str, password: str = PASSWORD, next_url: str = "/admin"
) -> object:
    page = web.get("/admin/login")
    assert page.status_code == 200, page.text
    return web.post(
        "/admin/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": form_token(page.text),
            "next": next_url,
        },
    )


def signed_in(db: Database, clock: ManualClock, role: str) -> tuple[TestClient, str]:
    """(a client signed in as a new admin of ``role``, the session's CSRF token)."""
    admin = make_admin(db, clock, role)
    web = client(db, clock)
    response = post_login(web, admin.email)
    assert getattr(response, "status_code", None) == 303
    return web, csrf_token(web)


def csrf_token(web: TestClient) -> str:
    """The session's CSRF token, read from the sign-out form of an admin page."""
    page = web.get("/admin/audit")
    return form_token(page.text)
