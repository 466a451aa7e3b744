"""The sandbox adapter against a live sandbox PG over real HTTP (uvicorn in a thread).

The browser is simulated with httpx: fetch the hosted checkout page, fill its form, post it and
read the 303 redirect to the success or fail URL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from coffer.payments.gateways import (
    Approved,
    Cancelled,
    CheckoutRequest,
    Declined,
    InvalidWebhook,
    PaymentCancelled,
    PaymentMethod,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.sandbox_pg.app import create_app
from coffer.sandbox_pg.config import SandboxSettings
from tests.gateways.live_support import WebhookSink, read_forms, serve, webhook_sink

CLIENT_KEY = "test_ck_coffer_demo"
SECRET_KEY = "test_sk_coffer_demo"
WEBHOOK_SECRET = "whsec_coffer_demo"
ADMIN = {"X-Sandbox-Admin-Token": "sandbox-admin"}
SUCCESS_URL = "http://coffer.test/charges/return/ok"
FAIL_URL = "http://coffer.test/charges/return/fail"
KST = ZoneInfo("Asia/Seoul")


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with webhook_sink() as running:
        yield running


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("sandbox-pg")
    app = create_app(SandboxSettings(data_dir=data_dir, hang_seconds=3))
    with serve(app) as url:
        response = httpx.put(
            f"{url}/admin/merchants/merchant_coffer_demo/webhook",
            json={"webhook_url": sink.url},
            headers=ADMIN,
        )
        assert response.status_code == 200, response.text
        yield url


@pytest.fixture
def gateway(base_url: str) -> Iterator[SandboxGateway]:
    with SandboxGateway(base_url, CLIENT_KEY, SECRET_KEY, WEBHOOK_SECRET, timeout=10.0) as gw:
        yield gw


def new_order() -> str:
    return f"LIVE-{uuid.uuid4().hex[:16]}"


def pay(
    gateway: SandboxGateway,
    order_id: str,
    method: PaymentMethod,
    *steps: dict[str, str],
    amount: int = 10000,
) -> dict[str, str]:
    """Check out like a browser; return the query parameters of the final redirect."""
    url = gateway.checkout_url(
        CheckoutRequest(order_id, amount, "KRW", method, "Cash 10,000", SUCCESS_URL, FAIL_URL)
    )
    with httpx.Client(headers={"Accept": "text/html"}) as browser:
        page = browser.get(url)
        for filled in steps:
            assert page.status_code == 200, page.text
            (form,) = read_forms(page.text)
            page = browser.post(urljoin(url, form.action), data=form.fields | filled)
    assert page.status_code == 303, page.text
    location = urlsplit(page.headers["location"])
    return {"_url": f"{location.scheme}://{location.netloc}{location.path}"} | dict(
        parse_qsl(location.query)
    )


CARD_OK = {"card_number": "4242 4242 4242 4242", "expiry": "12/39"}


def approved_card_payment(gateway: SandboxGateway, order_id: str) -> Approved:
    params = pay(gateway, order_id, "card", CARD_OK)
    assert params["_url"] == SUCCESS_URL
    back = gateway.parse_return(params)
    assert (back.order_id, back.amount) == (order_id, 10000)
    outcome = gateway.confirm(back.payment_key, back.order_id, back.amount)
    assert isinstance(outcome, Approved), outcome
    return outcome


def test_card_checkout_confirm_and_query(gateway: SandboxGateway) -> None:
    order_id = new_order()
    outcome = approved_card_payment(gateway, order_id)
    assert (outcome.order_id, outcome.amount, outcome.method) == (order_id, 10000, "card")
    assert outcome.currency == "KRW"
    assert gateway.query(order_id=order_id) == outcome
    assert gateway.query(payment_key=outcome.payment_key) == outcome
    again = gateway.confirm(outcome.payment_key, order_id, 10000)
    assert again == outcome  # ALREADY_PROCESSED_PAYMENT → the query's answer


def test_a_confirm_with_a_changed_amount_is_declined(gateway: SandboxGateway) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id, "card", CARD_OK))
    outcome = gateway.confirm(back.payment_key, order_id, 1)
    assert isinstance(outcome, Declined)
    assert outcome.code == "INVALID_AMOUNT"


def test_declined_card(gateway: SandboxGateway) -> None:
    order_id = new_order()
    params = pay(gateway, order_id, "card", {"card_number": "4000000000000002", "expiry": "12/39"})
    assert params["_url"] == FAIL_URL
    assert (params["code"], params["orderId"]) == ("REJECT_CARD_PAYMENT", order_id)
    outcome = gateway.query(order_id=order_id)
    assert isinstance(outcome, Declined)
    assert outcome.code == "REJECT_CARD_PAYMENT"


def test_timeout_after_approval_is_unknown_then_query_approves(base_url: str) -> None:
    with SandboxGateway(base_url, CLIENT_KEY, SECRET_KEY, WEBHOOK_SECRET, timeout=1.0) as gw:
        order_id = new_order()
        hang = {"card_number": "4000000000000119", "expiry": "12/39"}
        back = gw.parse_return(pay(gw, order_id, "card", hang))
        outcome = gw.confirm(back.payment_key, order_id, 10000)
        assert isinstance(outcome, Unknown), outcome
        assert "Timeout" in outcome.reason
        later = gw.query(payment_key=back.payment_key)
        assert isinstance(later, Approved)
        assert (later.order_id, later.amount) == (order_id, 10000)


def test_partial_then_full_cancel(gateway: SandboxGateway) -> None:
    order_id = new_order()
    paid = approved_card_payment(gateway, order_id)
    first = gateway.cancel(paid.payment_key, amount=3000, reason="member asked")
    assert isinstance(first, Cancelled), first
    assert (first.balance_amount, first.cancelled_amount) == (7000, 3000)
    state = gateway.query(order_id=order_id)
    assert isinstance(state, PaymentCancelled)
    assert (state.partial, state.total_amount, state.balance_amount) == (True, 10000, 7000)
    too_much = gateway.cancel(paid.payment_key, amount=8000, reason="again")
    assert isinstance(too_much, Declined)
    assert too_much.code == "INVALID_CANCEL_AMOUNT"
    rest = gateway.cancel(paid.payment_key, amount=None, reason="the rest")
    assert isinstance(rest, Cancelled), rest
    assert (rest.balance_amount, rest.cancelled_amount) == (0, 7000)
    done = gateway.query(payment_key=paid.payment_key)
    assert isinstance(done, PaymentCancelled)
    assert not done.partial
    assert [c.amount for c in done.cancels] == [3000, 7000]
    assert isinstance(gateway.cancel(paid.payment_key, amount=None, reason="x"), Declined)


def test_settlement_lists_the_payment_and_its_cancel_with_fees(gateway: SandboxGateway) -> None:
    order_id = new_order()
    paid = approved_card_payment(gateway, order_id)
    gateway.cancel(paid.payment_key, amount=3000, reason="member asked")
    day = paid.approved_at.astimezone(KST).date()
    mine = [line for line in gateway.settlement(day) if line.order_id == order_id]
    assert [(x.kind, x.amount, x.fee, x.payout) for x in mine] == [
        ("payment", 10000, 250, 9750),
        ("cancel", -3000, -75, -2925),
    ]


def test_other_methods(gateway: SandboxGateway, base_url: str) -> None:
    transfer = new_order()
    back = gateway.parse_return(pay(gateway, transfer, "transfer", {"bank_code": "04"}))
    assert isinstance(gateway.confirm(back.payment_key, transfer, 10000), Approved)

    mobile = new_order()
    steps = ({"phone": "01012345678"}, {"otp": "000000"})
    back = gateway.parse_return(pay(gateway, mobile, "mobile", *steps))
    assert isinstance(gateway.confirm(back.payment_key, mobile, 10000), Approved)

    gift = new_order()
    params = pay(gateway, gift, "gift", {"pin": "9999-9999-9999-9999"})
    assert params["code"] == "INSUFFICIENT_VOUCHER_BALANCE"
    refused = gateway.query(order_id=gift)
    assert isinstance(refused, Declined)
    assert refused.code == "INSUFFICIENT_VOUCHER_BALANCE"

    account = new_order()
    back = gateway.parse_return(pay(gateway, account, "virtual_account", {"bank_code": "88"}))
    waiting = gateway.confirm(back.payment_key, account, 10000)
    assert isinstance(waiting, WaitingForDeposit), waiting
    assert waiting.bank_code == "88"
    deposit = httpx.post(
        f"{base_url}/admin/virtual-accounts/{back.payment_key}/deposit", headers=ADMIN
    )
    assert deposit.status_code == 200, deposit.text
    assert isinstance(gateway.query(order_id=account), Approved)


def test_a_wrong_secret_key_is_unknown_not_declined(base_url: str) -> None:
    with SandboxGateway(base_url, CLIENT_KEY, "test_sk_wrong", WEBHOOK_SECRET) as gw:
        outcome = gw.query(order_id="NO-SUCH-ORDER")
    assert isinstance(outcome, Unknown)
    assert "401" in outcome.reason


def test_a_real_webhook_is_verified(gateway: SandboxGateway, sink: WebhookSink) -> None:
    order_id = new_order()
    paid = approved_card_payment(gateway, order_id)

    def for_this_order() -> list[tuple[dict[str, str], bytes]]:
        found = []
        for delivery in sink.deliveries:
            if json.loads(delivery.body)["data"]["orderId"] == order_id:
                found.append((delivery.headers, delivery.body))
        return found

    with sink.arrived:
        sink.arrived.wait_for(lambda: bool(for_this_order()), timeout=10)
    ((headers, body),) = for_this_order()
    event = gateway.verify_webhook(headers, body, datetime.now(UTC))
    assert event.event_type == "PAYMENT_STATUS_CHANGED"
    assert event.payment == paid
    reserialised = json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode()
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(headers, reserialised, datetime.now(UTC))
