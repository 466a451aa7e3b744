"""Webhooks: sent after the change, signed, retried; deposit simulation."""

from __future__ import annotations

from collections.abc import Callable

from coffer.sandbox_pg.webhooks import verify_signature
from tests.sandbox_pg.conftest import DEMO_WEBHOOK_SECRET, Receiver, Sandbox


def test_virtual_account_deposit_sends_signed_webhooks(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    key = sandbox.paid_key("VA-1001", 50_000, method="virtual_account", form={"bank_code": "88"})
    assert sandbox.confirm(key, "VA-1001", 50_000).json()["status"] == "WAITING_FOR_DEPOSIT"
    deposit = sandbox.admin("POST", f"/admin/virtual-accounts/{key}/deposit")
    assert deposit.status_code == 200, deposit.text
    assert deposit.json()["status"] == "DONE"
    assert deposit.json()["approvedAt"] == "2026-03-01T09:00:00+09:00"

    received = receiver.wait_for(2)
    events = receiver.events()
    assert [e["eventType"] for e in events] == ["PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK"]
    assert [e["data"]["status"] for e in events] == ["WAITING_FOR_DEPOSIT", "DONE"]
    for (headers, body), event in zip(received, events, strict=True):
        assert headers["sandbox-event-id"] == event["eventId"]
        signature = headers["sandbox-signature"]
        assert signature.startswith(f"t={int(sandbox.clock.now().timestamp())},v1=")
        assert verify_signature(DEMO_WEBHOOK_SECRET, signature, body)
        assert not verify_signature("whsec_other", signature, body)
        assert not verify_signature(DEMO_WEBHOOK_SECRET, signature, body + b" ")


def test_confirm_and_cancel_send_status_changes(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    key = sandbox.paid_key("WH-0001", 10_000)
    sandbox.confirm(key, "WH-0001", 10_000)
    sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "x", "cancelAmount": 1})
    receiver.wait_for(2)
    statuses = [e["data"]["status"] for e in receiver.events()]
    assert statuses == ["DONE", "PARTIAL_CANCELED"]


def test_failed_deliveries_are_retried(
    sandbox: Sandbox, receiver: Receiver, with_webhooks: Callable[[], None]
) -> None:
    receiver.statuses = [500, 503]
    key = sandbox.paid_key("WH-0002", 10_000)
    sandbox.confirm(key, "WH-0002", 10_000)
    receiver.wait_for(1)
    assert receiver.events()[0]["data"]["paymentKey"] == key
    assert receiver.statuses == []  # both failures were consumed by earlier tries


def test_no_webhook_url_sends_nothing_and_changes_still_work(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("WH-0003", 10_000)
    assert sandbox.confirm(key, "WH-0003", 10_000).json()["status"] == "DONE"
