"""The admin API: merchants and their keys, the admin token, the demo merchant."""

from __future__ import annotations

from pathlib import Path

from coffer.sandbox_pg.store import ensure_default_merchant
from tests.sandbox_pg.conftest import Sandbox, basic


def test_new_merchant_gets_test_keys_and_is_isolated(sandbox: Sandbox) -> None:
    created = sandbox.admin("POST", "/admin/merchants", json={"name": "Other shop"})
    assert created.status_code == 201, created.text
    merchant = created.json()
    assert merchant["client_key"].startswith("test_ck_")
    assert merchant["secret_key"].startswith("test_sk_")
    assert merchant["webhook_secret"].startswith("whsec_")
    key = sandbox.paid_key("SHOP-0001", 1000, client_key=merchant["client_key"])
    # The demo merchant cannot see or confirm it.
    assert sandbox.confirm(key, "SHOP-0001", 1000).status_code == 404
    mine = sandbox.http.get(f"/v1/payments/{key}", headers=basic(merchant["secret_key"]))
    assert mine.json()["status"] == "READY"
    updated = sandbox.admin(
        "PUT",
        f"/admin/merchants/{merchant['merchant_id']}/webhook",
        json={"webhook_url": "http://127.0.0.1:9/hooks"},
    )
    assert updated.json()["webhook_url"] == "http://127.0.0.1:9/hooks"


def test_admin_token_is_required(sandbox: Sandbox) -> None:
    for headers in ({}, {"X-Sandbox-Admin-Token": "wrong"}):
        response = sandbox.http.get("/admin/faults", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED_ADMIN"


def test_admin_bad_input_is_400(sandbox: Sandbox) -> None:
    assert sandbox.admin("POST", "/admin/merchants", json={}).status_code == 400
    bad_url = sandbox.admin(
        "POST", "/admin/merchants", json={"name": "x", "webhook_url": "ftp://x"}
    )
    assert bad_url.status_code == 400
    missing = sandbox.admin("PUT", "/admin/merchants/nobody/webhook", json={"webhook_url": None})
    assert missing.status_code == 404
    for body in ({"error_rate": 2}, {"latency_ms": -1}, {"nonsense": 1}, {"outage": {"start": 1}}):
        response = sandbox.admin("PUT", "/admin/faults", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "INVALID_REQUEST"


def test_ensure_default_merchant_is_idempotent(tmp_path: Path) -> None:
    assert ensure_default_merchant(tmp_path) == "merchant_coffer_demo"
    assert ensure_default_merchant(tmp_path) == "merchant_coffer_demo"
    assert (tmp_path / "sandbox-pg.sqlite3").exists()
