"""`coffer up` as a real process, then the README's walkthrough over real HTTP.

Runs on both databases: SQLite is the embedded default `make run` uses; on PostgreSQL the same
command runs against ``COFFER_DATABASE_URL``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.gateways.live_support import read_forms

COFFER = str(Path(sys.executable).parent / "coffer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COFFER_DATA_DIR": str(tmp_path / "data"),
        "COFFER_DATABASE_URL": database_url,
        "COFFER_PORT": str(_free_port()),
        "COFFER_WORKER_POLL_SECONDS": "0.2",
        "COFFER_SANDBOX_PG_PORT": str(_free_port()),
    }


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(base URL, output so far) of a running `coffer up`."""
    log = Path(env["COFFER_DATA_DIR"]).parent / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen([COFFER, "up"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['COFFER_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - reported by the assertion
            process.kill()
            raise


def coffer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COFFER, *args], env=env, capture_output=True, text=True, timeout=60)


def charge_by_card(base: str, api_key: str, banner: str) -> None:
    """The demo service charges through the sandbox PG that `coffer up` started."""
    assert "sandbox PG:" in banner
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"})
    started = api.post(
        "/api/v1/charges",
        json={"member": "alice", "amount": 10_000, "method": "card",
              "return_url": "http://shop.test/back"},
        headers={"Idempotency-Key": "e2e-charge-1"},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    with httpx.Client(headers={"Accept": "text/html"}) as browser:
        checkout = browser.get(started.json()["checkout_url"], follow_redirects=True)
        assert checkout.status_code == 200, checkout.text
        (form,) = read_forms(checkout.text)
        paid = browser.post(
            urljoin(str(checkout.url), form.action),
            data=form.fields | {"card_number": "4242424242424242", "expiry": "12/39"},
        )
        assert paid.status_code == 303, paid.text
        back = browser.get(paid.headers["location"])
    assert back.status_code == 303
    assert "status=approved" in back.headers["location"]
    balance = api.get("/api/v1/members/alice/balance").json()
    # The demo's charge event gives 5 % bonus from 10,000 charged.
    assert (balance["paid"], balance["bonus"]) == (60_000, 3_500 + 500)


def buy_from_the_demo_shop(base: str, api_key: str) -> None:
    """The demo catalog is seeded: alice buys the starter pack and owns its items."""
    api = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {api_key}"})
    menu = api.get("/catalog/menu")
    assert menu.status_code == 200, menu.text
    assert "starter-pack" in menu.text
    bought = api.post(
        "/purchases",
        json={"member": "alice", "lines": [{"product": "sku:starter-pack", "quantity": 1}]},
        headers={"Idempotency-Key": "e2e-purchase-1"},
    )
    assert bought.status_code == 201, bought.text
    # The demo's "first purchase 10% off" policy applies, and the purchase says so.
    assert bought.json()["total"] == 7_200, bought.text
    (rule,) = bought.json()["quote"]["lines"][0]["applied"]
    assert (rule["name"], rule["amount"]) == ("First purchase 10% off", 800)
    owned = api.get("/members/alice/entitlements").json()
    assert owned["time_minutes"] == 300, owned
    redeemed = api.post(
        "/members/alice/coupons", json={"code": "welcome-coffer"},
        headers={"Idempotency-Key": "e2e-coupon-1"},
    )  # fmt: skip
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["balance"]["bonus"] == 1_000  # bonus was spent first on the pack


def test_readme_walkthrough(server: tuple[str, str], env: dict[str, str]) -> None:
    base, banner = server
    demo = json.loads((Path(env["COFFER_DATA_DIR"]) / "demo-service.json").read_text())
    assert demo["api_key"] in banner
    assert f"Coffer is running at {base}" in banner
    assert "operator@coffer.example / demo-operator" in banner
    cash_link = next(w for w in banner.split() if w.startswith(f"{base}/cash/enter?"))
    entered = httpx.get(cash_link, follow_redirects=True)
    assert (entered.status_code, entered.url.path) == (200, "/cash")
    assert httpx.get(f"{base}/admin/login").status_code == 200
    alice = httpx.get(
        f"{base}/api/v1/members/alice/balance",
        headers={"Authorization": f"Bearer {demo['api_key']}"},
    ).json()
    assert (alice["paid"], alice["bonus"]) == (50_000, 3_500)
    charge_by_card(base, demo["api_key"], banner)
    buy_from_the_demo_shop(base, demo["api_key"])

    created = coffer(env, "service", "create", "--name", "My Game", "--currency", "KRW")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    api = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"})

    def post(path: str, body: dict[str, object], idempotency_key: str | None) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return api.post(path, json=body, headers=headers)

    assert post("/members", {"external_id": "player-42", "grade": "gold"}, None).status_code == 201
    grant = {"amount": 10_000, "cash_kind": "paid", "reason": "opening balance"}
    first = post("/members/player-42/grants", grant, "grant-0001")
    again = post("/members/player-42/grants", grant, "grant-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    bonus = {"amount": 2_000, "cash_kind": "bonus", "reason": "welcome event",
             "expires_at": "2030-12-31T23:59:59+09:00"}  # fmt: skip
    assert post("/members/player-42/grants", bonus, "grant-0002").status_code == 201
    spend = post(
        "/members/player-42/spends",
        {"amount": 3_000, "reference": "order-1001", "memo": "sword of dawn"},
        "spend-0001",
    ).json()
    assert [d["cash_kind"] for d in spend["draws"]] == ["bonus", "paid"]
    assert api.get("/members/player-42/balance").json()["available"] == 9_000
    bad = post("/members/player-42/spends", {"amount": 1.5, "reference": "x"}, "spend-bad")
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_amount")

    hold = post(
        "/members/player-42/holds",
        {"amount": 5_000, "expires_in_seconds": 600, "reference": "match-77"},
        "hold-0001",
    ).json()
    committed = post(f"/holds/{hold['id']}/commit", {"amount": 1_200}, "hold-0001-commit")
    assert committed.json()["status"] == "committed"
    reversed_ = post(f"/spends/{spend['id']}/reverse", {"reason": "refund"}, "reverse-0001")
    assert reversed_.status_code == 201
    balance = api.get("/members/player-42/balance").json()
    assert (balance["paid"], balance["bonus"], balance["held"]) == (8_800, 2_000, 0)
    history = api.get("/members/player-42/history", params={"limit": 20}).json()["data"]
    assert [h["kind"] for h in history] == [
        "spend_reversal", "hold_commit", "hold", "spend", "grant", "grant",
    ]  # fmt: skip
    assert api.get(f"/journals/{spend['id']}").json()["reversed_by"] == reversed_.json()["id"]

    audit = coffer(env, "audit")
    assert audit.returncode == 0, audit.stdout
    assert "all hold" in audit.stdout
