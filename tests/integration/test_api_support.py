"""Helpers for the API tests (this module holds no tests).

A :class:`World` is the ASGI app over the test database and clock; a :class:`Tenant` is one
service with an API key and a client that sends it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coffer import app
from coffer.api.asgi import create_app
from coffer.config import Settings
from coffer.db.idempotency import idempotency_keys
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.tenancy.model import Service

V1 = "/api/v1"

#: Pass as ``key=`` to send a fresh Idempotency-Key (the default).
FRESH = "<fresh>"


@dataclass
class Tenant:
    client: TestClient
    db: Database
    service: Service
    api_key: str
    key_prefix: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.request(method, V1 + path, **kwargs)
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, headers=self.auth, params=params)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: str | None = FRESH,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        sent = dict(self.auth)
        if key is not None:
            sent["Idempotency-Key"] = uuid.uuid4().hex if key == FRESH else key
        sent.update(headers or {})
        if content is not None:
            return self.request("POST", path, content=content, headers=sent)
        if body is None:
            return self.request("POST", path, headers=sent)
        return self.request("POST", path, json=body, headers=sent)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.request("PATCH", path, json=body, headers=self.auth)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, headers=self.auth)

    def delete(self, path: str) -> httpx.Response:
        return self.request("DELETE", path, headers=self.auth)

    # --- set-up shortcuts that assert success ---------------------------------------------

    def member(self, external_id: str, **extra: Any) -> Any:
        return ok(self.post("/members", {"external_id": external_id, **extra}, key=None), 201)

    def grant(self, external_id: str, amount: int, cash_kind: str = "paid", **extra: Any) -> Any:
        body = {"amount": amount, "cash_kind": cash_kind, "reason": "test", **extra}
        return ok(self.post(f"/members/{external_id}/grants", body), 201)

    def spend(self, external_id: str, amount: int, reference: str = "order-1") -> Any:
        body = {"amount": amount, "reference": reference}
        return ok(self.post(f"/members/{external_id}/spends", body), 201)

    def hold(self, external_id: str, amount: int, seconds: int = 600) -> Any:
        body = {"amount": amount, "expires_in_seconds": seconds}
        return ok(self.post(f"/members/{external_id}/holds", body), 201)

    def snapshot(self, external_id: str) -> tuple[Any, int, int]:
        """(balance, number of journals, number of idempotency keys): what a refusal keeps."""
        balance = ok(self.get(f"/members/{external_id}/balance"), 200)
        history = ok(self.get(f"/members/{external_id}/history", limit=200), 200)
        keys = self.db.read(
            lambda conn: conn.execute(
                select(func.count())
                .select_from(idempotency_keys)
                .where(idempotency_keys.c.service_id == self.service.id)
            ).scalar_one()
        )
        return balance, len(history["data"]), int(keys)


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return str(body["error"]["code"])


class World:
    """The API app over one database and a manual clock; make tenants with :meth:`tenant`."""

    def __init__(self, db: Database, clock: ManualClock) -> None:
        self.db = db
        self.clock = clock
        self.runtime = app.Runtime(Settings.from_env({}), db, clock)
        self.app = create_app(self.runtime)
        self.client = TestClient(self.app)

    def tenant(self, name: str = "Demo", currency: str = "KRW") -> Tenant:
        service, key = self.db.write(
            lambda conn: app.create_service(
                conn, name=name, currency=currency, timezone="Asia/Seoul", clock=self.clock
            )
        )
        return Tenant(self.client, self.db, service, key.plaintext, key.prefix)
