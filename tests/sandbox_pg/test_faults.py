"""Fault injection through the admin API."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from tests.sandbox_pg.conftest import Receiver, Sandbox


def _faults(sandbox: Sandbox, **body: object) -> dict[str, object]:
    response = sandbox.admin("PUT", "/admin/faults", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_faults_are_shown_merged_and_cleared(sandbox: Sandbox) -> None:
    _faults(sandbox, latency_ms=5, seed=7)
    state = _faults(sandbox, error_rate="0.25")
    assert state["latency_ms"] == 5
    assert state["error_rate"] == "0.25"
    assert state["seed"] == 7
    assert sandbox.admin("GET", "/admin/faults").json() == state
    cleared = sandbox.admin("DELETE", "/admin/faults").json()
    assert cleared["latency_ms"] == 0
    assert cleared["error_rate"] == "0"


def test_latency_is_observable(sandbox: Sandbox) -> None:
    _faults(sandbox, latency_ms=300)
    started = time.monotonic()
    response = sandbox.s2s("GET", "/v1/payments/sbx_none")
    waited = time.monotonic() - started
    assert response.status_code == 404
    assert waited >= 0.3  # a lower bound only: the sandbox waited at least as asked


def test_error_rate_one_always_fails_and_changes_nothing(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("FLT-0001", 10_000)
    _faults(sandbox, error_rate=1)
    for _ in range(3):
        response = sandbox.confirm(key, "FLT-0001", 10_000)
        assert response.status_code == 500
        assert response.json()["code"] == "INTERNAL_ERROR"
    _faults(sandbox, error_rate=0)
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json()["status"] == "READY"


def test_error_rate_is_reproducible_with_a_seed(sandbox: Sandbox) -> None:
    def run() -> list[int]:
        _faults(sandbox, error_rate="0.5", seed=42)
        return [sandbox.s2s("GET", "/v1/payments/sbx_x").status_code for _ in range(20)]

    first = run()
    assert run() == first
    assert set(first) == {404, 500}


def test_outage_window_follows_the_sandbox_clock(sandbox: Sandbox) -> None:
    _faults(
        sandbox,
        outage={"start": "2026-03-01T09:30:00+09:00", "end": "2026-03-01T10:00:00+09:00"},
    )
    assert sandbox.s2s("GET", "/v1/payments/sbx_x").status_code == 404
    sandbox.clock.advance(timedelta(minutes=45))
    down = sandbox.s2s("GET", "/v1/payments/sbx_x")
    assert down.status_code == 503
    assert down.json()["code"] == "SERVICE_UNAVAILABLE"
    assert sandbox.http.get("/checkout").status_code == 400  # pages are not affected
    sandbox.clock.advance(timedelta(minutes=30))
    assert sandbox.s2s("GET", "/v1/payments/sbx_x").status_code == 404


def test_duplicate_webhooks(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    _faults(sandbox, duplicate_webhooks=2)
    key = sandbox.paid_key("FLT-0002", 10_000)
    sandbox.confirm(key, "FLT-0002", 10_000)
    _faults(sandbox, duplicate_webhooks=0)
    sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "x"})
    receiver.wait_for(4)
    events = receiver.events()
    assert [e["data"]["status"] for e in events] == ["DONE", "DONE", "DONE", "CANCELED"]
    assert len({e["eventId"] for e in events[:3]}) == 1
    assert events[3]["eventId"] != events[0]["eventId"]


def test_out_of_order_webhooks(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    _faults(sandbox, out_of_order_webhooks=True)
    key = sandbox.paid_key("FLT-0003", 10_000)
    sandbox.confirm(key, "FLT-0003", 10_000)
    sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "a", "cancelAmount": 1})
    sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "b"})
    assert receiver.events() == []  # held (nothing can have been sent yet)
    _faults(sandbox, out_of_order_webhooks=False)
    receiver.wait_for(3)
    statuses = [e["data"]["status"] for e in receiver.events()]
    assert statuses == ["CANCELED", "PARTIAL_CANCELED", "DONE"]


def test_flush_releases_held_webhooks(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    _faults(sandbox, out_of_order_webhooks=True)
    key = sandbox.paid_key("FLT-0004", 10_000)
    sandbox.confirm(key, "FLT-0004", 10_000)
    assert sandbox.admin("POST", "/admin/webhooks/flush").json() == {"released": 1}
    receiver.wait_for(1)


def test_timeout_after_approval_card(sandbox: Sandbox) -> None:
    key = sandbox.paid_key(
        "FLT-0005", 10_000, form={"card_number": "4000000000000119", "expiry": "12/30"}
    )
    with pytest.raises(httpx.TimeoutException):
        sandbox.confirm(key, "FLT-0005", 10_000, timeout=1)
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json()["status"] == "DONE"


def test_timeout_after_approval_fault(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    _faults(sandbox, timeout_after_approval=True)
    key = sandbox.paid_key("FLT-0006", 10_000)
    with pytest.raises(httpx.TimeoutException):
        sandbox.confirm(key, "FLT-0006", 10_000, timeout=1)
    assert sandbox.s2s("GET", "/v1/payments/orders/FLT-0006").json()["status"] == "DONE"
    receiver.wait_for(1)
    assert receiver.events()[0]["data"]["status"] == "DONE"


def test_settlement_faults(sandbox: Sandbox) -> None:
    for number in range(1, 6):
        order = f"FLT-SET-{number}"
        key = sandbox.paid_key(order, number * 1000)
        sandbox.confirm(key, order, number * 1000)
    honest = sandbox.s2s("GET", "/v1/settlements", params={"date": "2026-03-01"}).json()
    assert len(honest) == 5
    real = {line["paymentKey"]: line for line in honest}

    _faults(sandbox, seed=3, settlement={"wrong_amounts": 2, "missing": 1, "extra": 2})
    faulty = sandbox.s2s("GET", "/v1/settlements", params={"date": "2026-03-01"}).json()
    assert faulty == sandbox.s2s("GET", "/v1/settlements", params={"date": "2026-03-01"}).json()
    known = [line for line in faulty if line["paymentKey"] in real]
    extra = [line for line in faulty if line["paymentKey"] not in real]
    assert len(known) == 4  # one missing
    assert len(extra) == 2
    assert all(line["orderId"].startswith("EXTRA-") for line in extra)
    wrong = [line for line in known if line["amount"] != real[line["paymentKey"]]["amount"]]
    assert len(wrong) == 2
    assert all(line["amount"] == real[line["paymentKey"]]["amount"] + 1000 for line in wrong)
    csv_lines = sandbox.s2s("GET", "/v1/settlements/2026-03-01.csv").text.strip().splitlines()
    assert len(csv_lines) == 1 + 6
