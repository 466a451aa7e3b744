"""A real sandbox PG over HTTP (uvicorn in a thread), a movable clock and a webhook receiver."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from coffer.kernel.clock import ManualClock
from coffer.sandbox_pg.app import create_app
from coffer.sandbox_pg.config import SandboxSettings

ADMIN = {"X-Sandbox-Admin-Token": "test-admin"}
DEMO_SECRET = "test_sk_coffer_demo"
DEMO_CLIENT = "test_ck_coffer_demo"
DEMO_WEBHOOK_SECRET = "whsec_coffer_demo"
START = datetime(2026, 3, 1, tzinfo=UTC)  # 09:00 in Seoul


def basic(secret_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{secret_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@dataclass
class Sandbox:
    base: str
    clock: ManualClock
    http: httpx.Client

    def checkout(
        self,
        order_id: str,
        amount: int,
        method: str = "card",
        form: dict[str, str] | None = None,
        client_key: str = DEMO_CLIENT,
    ) -> tuple[str, dict[str, str]]:
        """Submit the hosted checkout form; return (redirect target path, its query)."""
        fields = {
            "client_key": client_key,
            "order_id": order_id,
            "order_name": f"Cash {amount}",
            "amount": str(amount),
            "currency": "KRW",
            "method": method,
            "success_url": "https://shop.example/ok?x=1",
            "fail_url": "https://shop.example/fail",
        }
        fields.update(form or {"card_number": "4242424242424242", "expiry": "12/30"})
        response = self.http.post("/checkout", data=fields)
        assert response.status_code == 303, response.text
        target = urlsplit(response.headers["location"])
        query = {key: values[0] for key, values in parse_qs(target.query).items()}
        return target.path, query

    def paid_key(self, order_id: str, amount: int, **kwargs: Any) -> str:
        path, query = self.checkout(order_id, amount, **kwargs)
        assert path == "/ok", query
        return query["paymentKey"]

    def confirm(self, key: str, order_id: str, amount: int, **kwargs: Any) -> httpx.Response:
        return self.http.post(
            "/v1/payments/confirm",
            json={"paymentKey": key, "orderId": order_id, "amount": amount},
            headers=basic(DEMO_SECRET),
            **kwargs,
        )

    def s2s(self, verb: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(verb, path, headers=basic(DEMO_SECRET), **kwargs)

    def admin(self, verb: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(verb, path, headers=ADMIN, **kwargs)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    clock = ManualClock(START)
    settings = SandboxSettings(
        data_dir=tmp_path / "sandbox",
        admin_token="test-admin",
        hang_seconds=4,
        webhook_backoff_ms=20,
        webhook_poll_ms=10,
    )
    server, thread, base = _serve(create_app(settings, clock))
    with httpx.Client(base_url=base, timeout=10) as client:
        yield Sandbox(base, clock, client)
    server.should_exit = True
    thread.join(timeout=15)


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    #: Status codes to answer with, in order; then 200.
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _headers, body in self.requests]

    def wait_for(self, count: int, timeout: float = 15) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            assert time.monotonic() < deadline, f"only {len(self.requests)} of {count} webhooks"
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec = box["r"]
            with rec.lock:
                status = rec.statuses.pop(0) if rec.statuses else 200
                if status == 200:
                    rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box["r"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def with_webhooks(sandbox: Sandbox, receiver: Receiver) -> Callable[[], None]:
    def _set() -> None:
        response = sandbox.admin(
            "PUT",
            "/admin/merchants/merchant_coffer_demo/webhook",
            json={"webhook_url": receiver.url},
        )
        assert response.status_code == 200, response.text

    _set()
    return _set
