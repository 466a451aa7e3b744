"""Outgoing webhooks delivered to a real HTTP server on 127.0.0.1: signing, retries, the log."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from coffer.config import Settings
from coffer.db.outbox import WEBHOOK_JOB, emit_event, jobs
from coffer.db.transaction import Database
from coffer.jobs.handlers import default_handlers
from coffer.jobs.tables import webhook_deliveries
from coffer.jobs.webhooks import WebhookDeliverer, verify
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock
from coffer.tenancy import service as tenancy

SECRET = "whsec_test_0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """A local HTTP server; answers with ``responses`` in turn, then 200 "ok"."""

    url: str
    received: list[Received] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)
    delay_seconds: float = 0.0


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            status, text = state.responses.pop(0) if state.responses else (200, "ok")
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/coffer"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _service(
    db: Database, clock: ManualClock, url: str | None, secret: str | None = SECRET
) -> UUID:
    def work(conn: Any) -> UUID:
        service = tenancy.create_service(
            conn, name="Game", currency="KRW", timezone="Asia/Seoul", now=clock.now()
        )
        tenancy.update_service_settings(conn, service.id, webhook_url=url, webhook_secret=secret)
        return service.id

    return db.write(work)


def _emit(db: Database, clock: ManualClock, service_id: UUID) -> UUID:
    return db.write(
        lambda conn: emit_event(
            conn, service_id, "cash.granted", {"amount": 1000, "memo": "보너스"}, now=clock.now()
        )
    )


def _worker(db: Database, clock: ManualClock, deliverer: WebhookDeliverer) -> Worker:
    return Worker(db, clock, {WEBHOOK_JOB: deliverer}, worker_id="webhooks")


def _deliveries(db: Database) -> list[RowMapping]:
    return db.read(
        lambda conn: list(
            conn.execute(
                select(webhook_deliveries).order_by(webhook_deliveries.c.attempt)
            ).mappings()
        )
    )


def _job(db: Database) -> RowMapping:
    return db.read(
        lambda conn: conn.execute(select(jobs).where(jobs.c.kind == WEBHOOK_JOB)).mappings().one()
    )


def test_delivers_a_signed_event(
    db: Database, clock: ManualClock, endpoint: Endpoint, http_client: httpx.Client
) -> None:
    service_id = _service(db, clock, endpoint.url)
    event_id = _emit(db, clock, service_id)

    assert _worker(db, clock, WebhookDeliverer(client=http_client)).run_once() == 1

    [request] = endpoint.received
    assert request.path == "/hooks/coffer"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Coffer-Event-Id"] == str(event_id)
    assert request.headers["Coffer-Event-Type"] == "cash.granted"
    signature = request.headers["Coffer-Signature"]
    assert signature.startswith(f"t={int(clock.now().timestamp())},v1=")
    assert verify(SECRET, signature, request.body, clock.now())
    assert json.loads(request.body) == {
        "id": str(event_id),
        "type": "cash.granted",
        "created_at": clock.now().isoformat(),
        "data": {"amount": 1000, "memo": "보너스"},
    }
    [delivery] = _deliveries(db)
    assert delivery["status"] == "delivered"
    assert delivery["http_status"] == 200
    assert delivery["response_excerpt"] == "ok"
    assert (delivery["service_id"], delivery["event_id"]) == (service_id, event_id)
    assert (delivery["event_type"], delivery["attempt"]) == ("cash.granted", 1)
    assert delivery["duration_ms"] >= 0
    assert delivery["created_at"] == clock.now()
    assert _job(db)["status"] == "done"


def test_a_500_is_logged_and_retried_with_backoff(
    db: Database, clock: ManualClock, endpoint: Endpoint, http_client: httpx.Client
) -> None:
    endpoint.responses = [(500, "internal error " * 100)]
    service_id = _service(db, clock, endpoint.url)
    event_id = _emit(db, clock, service_id)
    worker = _worker(db, clock, WebhookDeliverer(client=http_client))

    worker.run_once()

    job = _job(db)
    assert job["status"] == "pending"
    assert job["run_after"] > clock.now()
    assert "HTTP 500" in job["last_error"]
    [failed] = _deliveries(db)
    assert (failed["status"], failed["http_status"], failed["attempt"]) == ("failed", 500, 1)
    assert len(failed["response_excerpt"]) == 500
    assert failed["response_excerpt"].startswith("internal error")

    assert worker.run_once() == 0  # backing off
    clock.advance(timedelta(minutes=1))
    assert worker.run_once() == 1

    assert _job(db)["status"] == "done"
    assert [(d["status"], d["http_status"], d["attempt"]) for d in _deliveries(db)] == [
        ("failed", 500, 1),
        ("delivered", 200, 2),
    ]
    first, second = endpoint.received
    assert first.body == second.body
    assert first.headers["Coffer-Event-Id"] == second.headers["Coffer-Event-Id"] == str(event_id)
    assert verify(SECRET, second.headers["Coffer-Signature"], second.body, clock.now())
    assert not verify(SECRET, first.headers["Coffer-Signature"], first.body, clock.now(), 30)


def test_a_network_error_is_logged_and_retried(
    db: Database, clock: ManualClock, http_client: httpx.Client
) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    _emit(db, clock, _service(db, clock, f"http://127.0.0.1:{closed_port}/hook"))

    _worker(db, clock, WebhookDeliverer(client=http_client)).run_once()

    [delivery] = _deliveries(db)
    assert delivery["status"] == "failed"
    assert delivery["http_status"] is None
    assert delivery["error"].startswith("ConnectError")
    assert _job(db)["status"] == "pending"
    assert "ConnectError" in _job(db)["last_error"]


def test_a_slow_endpoint_times_out(
    db: Database, clock: ManualClock, endpoint: Endpoint, http_client: httpx.Client
) -> None:
    endpoint.delay_seconds = 1.0
    _emit(db, clock, _service(db, clock, endpoint.url))

    _worker(db, clock, WebhookDeliverer(client=http_client, timeout_seconds=0.2)).run_once()

    [delivery] = _deliveries(db)
    assert delivery["status"] == "failed"
    assert "Timeout" in delivery["error"]
    assert _job(db)["status"] == "pending"


def test_no_endpoint_is_skipped(
    db: Database, clock: ManualClock, endpoint: Endpoint, http_client: httpx.Client
) -> None:
    event_id = _emit(db, clock, _service(db, clock, None, None))

    _worker(db, clock, WebhookDeliverer(client=http_client)).run_once()

    assert endpoint.received == []
    [delivery] = _deliveries(db)
    assert (delivery["status"], delivery["event_id"]) == ("skipped", event_id)
    assert delivery["http_status"] is None
    assert _job(db)["status"] == "done"


def test_an_endpoint_without_a_secret_is_not_called(
    db: Database, clock: ManualClock, endpoint: Endpoint, http_client: httpx.Client
) -> None:
    _emit(db, clock, _service(db, clock, endpoint.url, None))

    _worker(db, clock, WebhookDeliverer(client=http_client)).run_once()

    assert endpoint.received == []
    [delivery] = _deliveries(db)
    assert delivery["status"] == "failed"
    assert "no webhook_secret" in delivery["error"]
    assert _job(db)["status"] == "pending"


def test_default_handlers_deliver_with_the_configured_timeout(
    db: Database, clock: ManualClock, endpoint: Endpoint
) -> None:
    settings = Settings.from_env({"COFFER_WEBHOOK_TIMEOUT_SECONDS": "3.5"})
    handlers = default_handlers(settings)
    deliverer = handlers[WEBHOOK_JOB]
    assert isinstance(deliverer, WebhookDeliverer)
    assert deliverer.timeout.read == 3.5
    _emit(db, clock, _service(db, clock, endpoint.url))
    try:
        Worker(db, clock, handlers, worker_id="w").run_once()
    finally:
        deliverer.close()

    assert len(endpoint.received) == 1
    assert _job(db)["status"] == "done"


def test_an_injected_transport_carries_the_request(db: Database, clock: ManualClock) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    deliverer = WebhookDeliverer(transport=httpx.MockTransport(answer))
    _emit(db, clock, _service(db, clock, "https://hooks.example.test/coffer"))
    try:
        _worker(db, clock, deliverer).run_once()
    finally:
        deliverer.close()

    [request] = seen
    assert str(request.url) == "https://hooks.example.test/coffer"
    assert verify(SECRET, request.headers["Coffer-Signature"], request.content, clock.now())
    [delivery] = _deliveries(db)
    assert (delivery["status"], delivery["http_status"]) == ("delivered", 204)
