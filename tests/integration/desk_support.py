"""Helpers for the admin desk tests (this module holds no tests).

A :class:`Desk` is the whole server (``coffer.server.create_server``) over the test database and
clock, with admins who sign in through the real ``/admin/login`` form; each signed-in admin has
their own client (cookie jar). :func:`ledger_state` and :func:`audit_count` tell whether
anything changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.admins import service as admins
from coffer.app import Runtime
from coffer.approvals.tables import grant_approvals
from coffer.audit.tables import audit_log
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger.tables import holds, journals, lots, postings, wallets
from coffer.server import create_server
from coffer.tenancy.model import Member, Service
from coffer.tenancy.tables import members, services

PASSWORD = "correct horse battery"

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_HIDDEN = re.compile(r'name="{name}" value="([^"]*)"')


def hidden(html: str, name: str) -> str:
    """The value of the first hidden field ``name`` in a page."""
    found = re.search(_HIDDEN.pattern.format(name=re.escape(name)), html)
    assert found, f"no field {name!r} in the page"
    return found.group(1)


@dataclass
class Admin:
    """A signed-in admin: their own client and the session's CSRF token."""

    email: str
    id: UUID
    client: TestClient
    csrf: str = ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.get(path, **kwargs)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """A form POST with the CSRF token; redirects are not followed."""
        body = {"csrf_token": self.csrf, **(data or {})}
        response: httpx.Response = self.client.post(
            path, data=body, follow_redirects=False, **kwargs
        )
        return response

    def form_key(self, page: str) -> str:
        return hidden(self.get(page).text, "form_key")


@dataclass
class Desk:
    db: Database
    clock: ManualClock
    server: Any = None
    _admins: list[TestClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = create_server(Runtime(Settings.from_env({}), self.db, self.clock))

    def close(self) -> None:
        for client in self._admins:
            client.close()

    def service(
        self, name: str = "Game", *, currency: str = "KRW", threshold: int | None = None
    ) -> Service:
        def create(conn: Connection) -> Service:
            service, _key = app.create_service(
                conn, name=name, currency=currency, timezone="Asia/Seoul", clock=self.clock
            )
            if threshold is not None:
                from coffer.tenancy import service as tenancy

                service = tenancy.update_service_settings(
                    conn, service.id, grant_approval_threshold=threshold
                )
            return service

        return self.db.write(create)

    def member(self, service: Service, external_id: str, *, grade: str = "basic") -> Member:
        return self.db.write(
            lambda conn: app.create_member(
                conn, service, external_id, clock=self.clock, grade=grade
            )
        )

    def admin(self, role: str, email: str | None = None) -> Admin:
        """Create an admin with ``role`` and sign in through the login form."""
        address = email or f"{role}@example.com"
        user = self.db.write(
            lambda conn: admins.create_admin(
                conn, email=address, role=role, password=PASSWORD, now=self.clock.now()
            )
        )
        client = TestClient(self.server, follow_redirects=False)
        self._admins.append(client)
        form = client.get("/admin/login")
        assert form.status_code == 200, form.text
        signed = client.post(
            "/admin/login",
            data={
                "email": address,
                "password": PASSWORD,
                "csrf_token": hidden(form.text, "csrf_token"),
                "next": "/admin",
            },
        )
        assert signed.status_code == 303, signed.text
        home = client.get("/admin", follow_redirects=True)
        assert home.status_code == 200, home.text
        found = _CSRF_META.search(home.text)
        assert found, "the admin layout has no csrf-token meta"
        return Admin(address, user.id, client, found.group(1))


def member_path(service: Service, external_id: str) -> str:
    return f"/admin/members/{service.id}/{external_id}"


def audit_count(db: Database, action: str | None = None) -> int:
    query = select(func.count()).select_from(audit_log)
    if action:
        query = query.where(audit_log.c.action == action)
    return int(db.read(lambda conn: conn.execute(query).scalar_one()))


def audit_rows(db: Database, action: str) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
    return db.read(lambda conn: [dict(row) for row in conn.execute(query).mappings()])


def ledger_state(db: Database) -> tuple[Any, ...]:
    """What the desk can change: ledger rows, wallets, holds, approvals, members and services."""

    def read(conn: Connection) -> tuple[Any, ...]:
        counts = tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (journals, postings, lots, holds, grant_approvals)
        )
        purses = conn.execute(
            select(wallets.c.member_id, wallets.c.paid, wallets.c.bonus, wallets.c.held).order_by(
                wallets.c.member_id
            )
        ).all()
        statuses = conn.execute(select(holds.c.id, holds.c.status).order_by(holds.c.id)).all()
        people = conn.execute(select(members.c.id, members.c.status).order_by(members.c.id)).all()
        settings = conn.execute(select(services).order_by(services.c.id)).all()
        return (*counts, tuple(purses), tuple(statuses), tuple(people), tuple(settings))

    return db.read(read)
