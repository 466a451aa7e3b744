"""Charges end to end: the open API, the member's browser, the sandbox PG and its webhooks.

Everything runs over real HTTP: Coffer in one uvicorn thread, the sandbox PG in another.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from coffer.payments.gateways.outcomes import Cancelled
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.states import CREDITED_STATUSES
from tests.ledger_helpers import assert_invariants
from tests.payments.world import APPROVE, CARD_DECLINED, World


def wait_for(check: object, timeout: float = 10.0) -> None:
    """Wait for a webhook-driven change (the sandbox sends them from its own thread)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.parametrize("method", ["card", "transfer", "mobile", "gift"])
def test_every_instant_method_credits_the_charge_once(world: World, method: str) -> None:
    member = world.member()
    back = world.pay(member, method, 10000)
    assert back["status"] == "approved"
    charge = world.charge(back["charge_id"])
    assert (charge.status, charge.method) == ("approved", method)
    assert world.balance(member) == 10000
    # The sandbox also sends a DONE webhook: a no-op on an approved charge.
    time.sleep(0.3)
    assert world.balance(member) == 10000
    with world.api() as api:
        detail = api.get(f"/api/v1/charges/{charge.id}").json()
    assert detail["status"] == "approved"
    assert detail["refundable"] == 10000
    assert [e["after"] for e in detail["timeline"]][:3] == ["created", "in_progress", "approved"]
    assert_invariants(world.db)


def test_virtual_account_waits_for_the_deposit_then_credits(world: World) -> None:
    member = world.member()
    back = world.pay(member, "virtual_account", 30000)
    assert back["status"] == "waiting_for_deposit"
    charge = world.charge(back["charge_id"])
    assert None not in (charge.va_account, charge.va_bank, charge.va_due_at)
    assert world.balance(member) == 0
    assert charge.payment_key is not None
    world.deposit(charge.payment_key)
    wait_for(lambda: world.charge(charge.id).status == "approved")
    assert world.balance(member) == 30000
    detail = world.api().get(f"/api/v1/charges/{charge.id}").json()
    events = [e["event"] for e in detail["timeline"]]
    assert "deposited" in events
    assert_invariants(world.db)


def test_a_declined_card_fails_the_charge_and_credits_nothing(world: World) -> None:
    member = world.member()
    started = world.start_charge(member)
    back = world.follow(world.checkout(started["checkout_url"], [CARD_DECLINED]))
    assert back["status"] == "failed"
    charge = world.charge(started["id"])
    assert charge.failure_code == "REJECT_CARD_PAYMENT"
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_refund_part_then_the_rest_and_never_more_than_unspent(world: World) -> None:
    member = world.member()
    charge_id = world.pay(member, "card", 10000)["charge_id"]
    with world.api() as api:
        spend = api.post(
            f"/api/v1/members/{member}/spends",
            json={"amount": 3000, "reference": "order-1"},
            headers={"Idempotency-Key": "spend-1"},
        )
        assert spend.status_code == 201, spend.text
        too_much = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"amount": 8000, "reason": "asked"},
            headers={"Idempotency-Key": "r-0"},
        )
        assert too_much.status_code == 409
        assert too_much.json()["error"]["code"] == "refund_exceeds_unspent"
        part = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"amount": 4000, "reason": "asked"},
            headers={"Idempotency-Key": "r-1"},
        )
        assert part.status_code == 201, part.text
        assert part.json()["status"] == "pending"
        assert world.balance(member) == 3000  # the cash left at once
        second = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"reason": "the rest"},
            headers={"Idempotency-Key": "r-2"},
        )
        assert second.json()["error"]["code"] == "refund_in_progress"
    world.process_refunds(charge_id)
    assert world.charge(charge_id).status == "partially_cancelled"
    assert world.charge(charge_id).refunded == 4000
    with world.api() as api:
        rest = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"reason": "the rest"},
            headers={"Idempotency-Key": "r-3"},
        )
        assert rest.status_code == 201, rest.text
        assert rest.json()["amount"] == 3000
    world.process_refunds(charge_id)
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded) == ("partially_cancelled", 7000)
    assert [r.status for r in world.refunds(charge_id)] == ["done", "done"]
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_a_changed_amount_on_the_return_is_refused_and_flagged(world: World) -> None:
    member = world.member()
    started = world.start_charge(member, 10000)
    redirect = world.checkout(started["checkout_url"], APPROVE["card"])
    forged = redirect.headers["location"].replace("amount=10000", "amount=100")
    with httpx.Client() as browser:
        back = browser.get(forged)
    assert back.status_code == 303
    assert "problem=return_mismatch" in back.headers["location"]
    charge = world.charge(started["id"])
    assert (charge.status, charge.attention) == ("failed", "return_mismatch")
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_forged_webhooks_are_refused(world: World) -> None:
    with httpx.Client(base_url=world.coffer) as client:
        response = client.post(
            f"/pg/webhooks/{world.contract_id}",
            content=b'{"eventId":"x"}',
            headers={"Sandbox-Signature": "t=1,v1=00"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_webhook"


def test_timeout_after_approval_leaves_the_charge_unknown_until_the_janitor(
    world: World,
) -> None:
    member = world.member()
    started = world.start_charge(member)
    world.faults(timeout_after_approval=True, out_of_order_webhooks=True)  # hold the webhook
    back = world.follow(world.checkout(started["checkout_url"], APPROVE["card"]))
    assert back["status"] == "unknown"
    assert world.balance(member) == 0
    world.faults(timeout_after_approval=False)
    with world.clock.shifted(timedelta(minutes=2)):
        report = world.janitor()
        assert report.charges_settled == 1
    assert world.charge(started["id"]).status == "approved"
    world.clear_faults()  # releases the held DONE webhook: a no-op now
    time.sleep(0.5)
    assert world.balance(member) == 10000
    assert world.charge(started["id"]).status in CREDITED_STATUSES
    assert_invariants(world.db)


def test_a_refund_the_pg_refuses_puts_the_cash_back_into_the_same_lot(world: World) -> None:
    member = world.member()
    charge_id = world.pay(member, "card", 10000)["charge_id"]
    charge = world.charge(charge_id)
    assert charge.payment_key is not None
    # Someone cancels 8,000 at the PG directly, so the PG can no longer cancel all 10,000.
    keys = world.merchant
    with SandboxGateway(
        world.sandbox, keys["client_key"], keys["secret_key"], keys["webhook_secret"]
    ) as outside:
        assert isinstance(outside.cancel(charge.payment_key, amount=8000, reason="x"), Cancelled)
    with world.api() as api:
        asked = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"reason": "asked"},
            headers={"Idempotency-Key": "refused-1"},
        )
    assert asked.status_code == 201, asked.text
    assert world.balance(member) == 0
    world.process_refunds(charge_id)
    (refund,) = world.refunds(charge_id)
    assert (refund.status, refund.failure_code) == ("refused", "INVALID_CANCEL_AMOUNT")
    assert refund.reversal_journal_id is not None
    assert world.balance(member) == 10000
    after = world.charge(charge_id)
    assert (after.status, after.refunded) == ("approved", 0)
    with world.api() as api:
        assert api.get(f"/api/v1/charges/{charge_id}").json()["refundable"] == 10000
    # The PG's own cancel is money no refund of ours explains: a person is told.
    wait_for(lambda: world.charge(charge_id).attention == "cancelled_outside_coffer")
    assert_invariants(world.db)


def test_carrier_billing_after_its_month_becomes_a_bank_refund(world: World) -> None:
    member = world.member()
    charge_id = world.pay(member, "mobile", 10000)["charge_id"]
    with world.clock.shifted(timedelta(days=40)), world.api() as api:
        asked = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"amount": 6000, "reason": "asked"},
            headers={"Idempotency-Key": "bank-1"},
        )
        assert asked.status_code == 201, asked.text
        assert (asked.json()["kind"], asked.json()["status"]) == ("bank_refund", "requested")
        world.process_refunds(charge_id)  # nothing to send to the PG
    (refund,) = world.refunds(charge_id)
    assert (refund.kind, refund.status, refund.attempts) == ("bank_refund", "requested", 0)
    assert world.balance(member) == 4000
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded) == ("partially_cancelled", 6000)
    assert_invariants(world.db)
