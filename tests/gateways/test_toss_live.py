"""The Toss adapter over real HTTP against the local fake of Toss's API (tests/fakes/toss.py).

The member is simulated with httpx: open ``checkout.url``, submit the payment window's form and
read the 303 redirect to the success or fail URL. Webhooks travel to a local sink.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from coffer.payments.gateways import (
    Approved,
    Cancelled,
    CheckoutRequest,
    Declined,
    GatewayUnavailable,
    InvalidWebhook,
    PaymentCancelled,
    PaymentMethod,
    Pending,
    Unknown,
    WaitingForDeposit,
    WebhookEvent,
)
from coffer.payments.gateways.toss import TossGateway
from tests.fakes.toss import KST, FakeToss
from tests.gateways.live_support import Delivery, WebhookSink, read_forms, serve, webhook_sink

CLIENT_KEY = "test_ck_coffer_toss"
SECRET_KEY = "test_sk_coffer_toss"
SECURITY_KEY = "coffer_toss_security_key"
SUCCESS_URL = "http://coffer.test/charges/return/ok"
FAIL_URL = "http://coffer.test/charges/return/fail"


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with webhook_sink() as running:
        yield running


@pytest.fixture(scope="module")
def fake(sink: WebhookSink) -> FakeToss:
    return FakeToss(SECRET_KEY, SECURITY_KEY, webhook_url=sink.url, hang_seconds=2.0)


@pytest.fixture(scope="module")
def base_url(fake: FakeToss) -> Iterator[str]:
    with serve(fake.app) as url:
        yield url


@pytest.fixture
def gateway(base_url: str) -> Iterator[TossGateway]:
    with TossGateway(CLIENT_KEY, SECRET_KEY, SECURITY_KEY, base_url=base_url) as gw:
        yield gw


def new_order() -> str:
    return f"LIVE-{uuid.uuid4().hex[:16]}"


def pay(
    gateway: TossGateway,
    order_id: str,
    method: PaymentMethod = "card",
    result: str = "approve",
    amount: int = 10000,
    **fields: str,
) -> dict[str, str]:
    """Check out like a browser; return the final redirect's query plus ``_url``."""
    url = gateway.checkout_url(
        CheckoutRequest(order_id, amount, "KRW", method, "캐시 10,000원", SUCCESS_URL, FAIL_URL)
    )
    with httpx.Client(headers={"Accept": "text/html"}) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        (form,) = read_forms(page.text)
        assert result in form.selects["result"]
        answer = browser.post(
            urljoin(url, form.action), data=form.fields | {"result": result} | fields
        )
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["location"])
    return {"_url": f"{location.scheme}://{location.netloc}{location.path}"} | dict(
        parse_qsl(location.query)
    )


def approved(gateway: TossGateway, order_id: str, method: PaymentMethod = "card") -> Approved:
    back = gateway.parse_return(pay(gateway, order_id, method))
    assert (back.order_id, back.amount) == (order_id, 10000)
    outcome = gateway.confirm(back.payment_key, order_id, 10000)
    assert isinstance(outcome, Approved), outcome
    return outcome


def webhooks_for(sink: WebhookSink, order_id: str, count: int) -> list[Delivery]:
    """The first ``count`` webhooks about ``order_id``, waiting for them to arrive."""

    def mine() -> list[Delivery]:
        found = []
        for delivery in list(sink.deliveries):
            event = json.loads(delivery.body)
            data = event.get("data", event)
            if isinstance(data, dict) and data.get("orderId") == order_id:
                found.append(delivery)
        return found

    with sink.arrived:
        sink.arrived.wait_for(lambda: len(mine()) >= count, timeout=10)
    found = mine()
    assert len(found) >= count, [d.body for d in found]
    return found[:count]


def now() -> datetime:
    return datetime.now(UTC)


# -- checkout, confirm, query --------------------------------------------------------------------


def test_card_checkout_confirm_and_query(gateway: TossGateway, fake: FakeToss) -> None:
    order_id = new_order()
    params = pay(gateway, order_id)
    assert params["_url"] == SUCCESS_URL
    back = gateway.parse_return(params)
    outcome = gateway.confirm(back.payment_key, order_id, 10000)
    assert isinstance(outcome, Approved), outcome
    assert (outcome.order_id, outcome.amount, outcome.method, outcome.currency) == (
        order_id,
        10000,
        "card",
        "KRW",
    )
    assert outcome.approved_at.utcoffset() == timedelta(hours=9)
    assert gateway.query(order_id=order_id) == outcome
    assert gateway.query(payment_key=outcome.payment_key) == outcome
    assert gateway.confirm(back.payment_key, order_id, 10000) == outcome  # replayed by its key
    fake.forget_idempotency_keys()
    assert gateway.confirm(back.payment_key, order_id, 10000) == outcome  # ALREADY_PROCESSED


def test_checkout_is_idempotent_per_order(gateway: TossGateway) -> None:
    order_id = new_order()
    request = CheckoutRequest(order_id, 10000, "KRW", "card", "캐시", SUCCESS_URL, FAIL_URL)
    assert gateway.checkout_url(request) == gateway.checkout_url(request)
    assert isinstance(gateway.query(order_id=order_id), Pending)


def test_a_reused_order_id_with_another_amount_is_refused(gateway: TossGateway) -> None:
    order_id = new_order()
    gateway.checkout_url(
        CheckoutRequest(order_id, 10000, "KRW", "card", "캐시", SUCCESS_URL, FAIL_URL)
    )
    with pytest.raises(GatewayUnavailable, match="DUPLICATED_ORDER_ID"):
        gateway.checkout_url(
            CheckoutRequest(order_id, 5000, "KRW", "card", "캐시", SUCCESS_URL, FAIL_URL)
        )


@pytest.mark.parametrize("method", ["card", "transfer", "mobile", "gift"])
def test_every_instant_method(gateway: TossGateway, method: PaymentMethod) -> None:
    order_id = new_order()
    outcome = approved(gateway, order_id, method)
    assert outcome.method == method
    assert gateway.query(order_id=order_id) == outcome


def test_virtual_account_waits_then_the_deposit_completes_it(
    gateway: TossGateway, fake: FakeToss, sink: WebhookSink
) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id, "virtual_account", bank="88"))
    waiting = gateway.confirm(back.payment_key, order_id, 10000)
    assert isinstance(waiting, WaitingForDeposit), waiting
    assert (waiting.bank_code, waiting.amount) == ("88", 10000)
    assert waiting.due_date > datetime.now(KST)
    assert gateway.query(order_id=order_id) == waiting
    fake.deposit(back.payment_key)
    done = gateway.query(payment_key=back.payment_key)
    assert isinstance(done, Approved)
    assert done.method == "virtual_account"

    # Issue (status change + DEPOSIT_CALLBACK), then deposit (the same two).
    deliveries = webhooks_for(sink, order_id, 4)
    events = [gateway.verify_webhook(d.headers, d.body, now()) for d in deliveries]
    kinds = sorted(e.event_type for e in events)
    assert kinds == ["DEPOSIT_CALLBACK"] * 2 + ["PAYMENT_STATUS_CHANGED"] * 2
    assert all(e.payment == done for e in events)  # the state Toss reports now
    assert all((e.order_id, e.payment_key) == (order_id, back.payment_key) for e in events)

    callback = next(d for d in deliveries if b'"secret"' in d.body and b"eventType" not in d.body)
    forged = json.loads(callback.body) | {"secret": "ps_guessed"}
    with pytest.raises(InvalidWebhook, match="secret"):
        gateway.verify_webhook(callback.headers, json.dumps(forged).encode(), now())

    refund = gateway.cancel(back.payment_key, amount=None, reason="환불")
    assert isinstance(refund, Declined)  # a deposited account needs refundReceiveAccount
    assert refund.code == "INVALID_REFUND_ACCOUNT_INFO"


def test_a_waiting_virtual_account_can_be_cancelled_whole_only(gateway: TossGateway) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id, "virtual_account"))
    assert isinstance(gateway.confirm(back.payment_key, order_id, 10000), WaitingForDeposit)
    partial = gateway.cancel(back.payment_key, amount=1000, reason="일부")
    assert isinstance(partial, Declined)
    assert partial.code == "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT"
    whole = gateway.cancel(back.payment_key, amount=None, reason="주문 취소")
    assert isinstance(whole, Cancelled), whole
    assert whole.balance_amount == 0


# -- refusals and faults -------------------------------------------------------------------------


def test_a_card_refused_in_the_window(gateway: TossGateway) -> None:
    order_id = new_order()
    params = pay(gateway, order_id, result="reject")
    assert params["_url"] == FAIL_URL
    assert (params["code"], params["orderId"]) == ("REJECT_CARD_COMPANY", order_id)
    outcome = gateway.query(order_id=order_id)
    assert isinstance(outcome, Declined)
    assert outcome.code == "REJECT_CARD_COMPANY"


def test_a_member_who_closes_the_window_leaves_the_payment_pending(gateway: TossGateway) -> None:
    order_id = new_order()
    params = pay(gateway, order_id, result="cancel")
    assert (params["_url"], params["code"]) == (FAIL_URL, "PAY_PROCESS_CANCELED")
    assert isinstance(gateway.query(order_id=order_id), Pending)


def test_a_403_card_refusal_at_confirm_is_a_decline(gateway: TossGateway, fake: FakeToss) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id))
    fake.decline_next_confirm("REJECT_CARD_PAYMENT", status=403)
    outcome = gateway.confirm(back.payment_key, order_id, 10000)
    assert isinstance(outcome, Declined), outcome
    assert outcome.code == "REJECT_CARD_PAYMENT"
    later = gateway.query(order_id=order_id)
    assert isinstance(later, Declined)
    assert later.code == "REJECT_CARD_PAYMENT"


def test_a_confirm_with_a_changed_amount_is_declined(gateway: TossGateway) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id))
    outcome = gateway.confirm(back.payment_key, order_id, 1)
    assert isinstance(outcome, Declined)
    assert isinstance(gateway.query(order_id=order_id), Pending)


def test_timeout_after_approval_is_unknown_and_the_retry_replays_the_approval(
    base_url: str, fake: FakeToss
) -> None:
    with TossGateway(CLIENT_KEY, SECRET_KEY, SECURITY_KEY, base_url=base_url, timeout=0.5) as gw:
        order_id = new_order()
        back = gw.parse_return(pay(gw, order_id))
        fake.hang_next("POST", "/v1/payments/confirm")
        first = gw.confirm(back.payment_key, order_id, 10000)
        assert isinstance(first, Unknown), first
        assert "Timeout" in first.reason
        retry = gw.confirm(back.payment_key, order_id, 10000)
        assert isinstance(retry, Approved), retry
        assert gw.query(payment_key=back.payment_key) == retry
    confirms = [r for r in fake.requests if r[1] == "/v1/payments/confirm" and r[2] is not None]
    keys = {key for _, _, key in confirms[-2:]}
    assert len(keys) == 1  # the same Idempotency-Key both times


@pytest.mark.parametrize(
    ("status", "body", "raw"),
    [
        pytest.param(
            500, {"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "x"}, None, id="500"
        ),
        pytest.param(503, None, b"<html>maintenance</html>", id="503-html"),
        pytest.param(
            400, {"code": "PROVIDER_ERROR", "message": "일시적인 오류"}, None, id="provider"
        ),
        pytest.param(429, {"code": "TOO_MANY_REQUESTS", "message": "x"}, None, id="429"),
    ],
)
def test_server_trouble_is_unknown_then_a_retry_approves(
    gateway: TossGateway, fake: FakeToss, status: int, body: object, raw: bytes | None
) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id))
    fake.fail_next("POST", "/v1/payments/confirm", status, body, raw)
    assert isinstance(gateway.confirm(back.payment_key, order_id, 10000), Unknown)
    assert isinstance(gateway.confirm(back.payment_key, order_id, 10000), Approved)


def test_a_wrong_body_after_approval_is_unknown(gateway: TossGateway, fake: FakeToss) -> None:
    order_id = new_order()
    back = gateway.parse_return(pay(gateway, order_id))
    fake.garble_next("POST", "/v1/payments/confirm")
    assert isinstance(gateway.confirm(back.payment_key, order_id, 10000), Unknown)
    assert isinstance(gateway.query(order_id=order_id), Approved)
    fake.garble_next("GET", f"/v1/payments/orders/{order_id}", b'{"status": "DONE"}')
    assert isinstance(gateway.query(order_id=order_id), Unknown)


def test_a_wrong_secret_key_is_unknown_not_declined(base_url: str) -> None:
    with TossGateway(CLIENT_KEY, "test_sk_wrong", SECURITY_KEY, base_url=base_url) as gw:
        outcome = gw.query(order_id="NO-SUCH-ORDER")
    assert isinstance(outcome, Unknown)
    assert "401" in outcome.reason


def test_an_unknown_payment_is_declined(gateway: TossGateway) -> None:
    outcome = gateway.query(payment_key="tgen_no_such_payment")
    assert outcome == Declined("NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")


# -- cancel --------------------------------------------------------------------------------------


def test_partial_and_full_cancels_with_idempotency_keys(
    gateway: TossGateway, fake: FakeToss
) -> None:
    order_id = new_order()
    paid = approved(gateway, order_id)
    first = gateway.cancel(paid.payment_key, amount=3000, reason="환불 R-1")
    assert isinstance(first, Cancelled), first
    assert (first.balance_amount, first.cancelled_amount) == (7000, 3000)
    assert gateway.cancel(paid.payment_key, amount=3000, reason="환불 R-1") == first  # replayed
    second = gateway.cancel(paid.payment_key, amount=3000, reason="환불 R-2")
    assert isinstance(second, Cancelled)
    assert second.balance_amount == 4000
    assert second.transaction_key != first.transaction_key
    state = gateway.query(order_id=order_id)
    assert isinstance(state, PaymentCancelled)
    assert (state.partial, state.total_amount, state.balance_amount) == (True, 10000, 4000)

    too_much = gateway.cancel(paid.payment_key, amount=8000, reason="환불 R-3")
    assert isinstance(too_much, Declined)
    assert too_much.code == "NOT_CANCELABLE_AMOUNT"  # a 403 that is a definite refusal

    rest = gateway.cancel(paid.payment_key, amount=None, reason="나머지")
    assert isinstance(rest, Cancelled), rest
    assert (rest.balance_amount, rest.cancelled_amount) == (0, 4000)
    done = gateway.query(payment_key=paid.payment_key)
    assert isinstance(done, PaymentCancelled)
    assert not done.partial
    assert [c.amount for c in done.cancels] == [3000, 3000, 4000]
    again = gateway.cancel(paid.payment_key, amount=None, reason="또")
    assert isinstance(again, Declined)
    assert again.code == "ALREADY_CANCELED_PAYMENT"


def test_a_cancel_that_timed_out_is_safe_to_send_again(base_url: str, fake: FakeToss) -> None:
    with TossGateway(CLIENT_KEY, SECRET_KEY, SECURITY_KEY, base_url=base_url, timeout=0.5) as gw:
        order_id = new_order()
        paid = approved(gw, order_id)
        fake.hang_next("POST", f"/v1/payments/{paid.payment_key}/cancel")
        lost = gw.cancel(paid.payment_key, amount=2500, reason="환불 R-9")
        assert isinstance(lost, Unknown), lost
        retry = gw.cancel(paid.payment_key, amount=2500, reason="환불 R-9")
        assert isinstance(retry, Cancelled), retry
        state = gw.query(payment_key=paid.payment_key)
    assert isinstance(state, PaymentCancelled)
    assert [c.amount for c in state.cancels] == [2500]  # cancelled once, not twice


# -- settlements ---------------------------------------------------------------------------------


def test_settlement_lists_the_payment_and_its_cancel_with_fees(gateway: TossGateway) -> None:
    order_id = new_order()
    paid = approved(gateway, order_id)
    gateway.cancel(paid.payment_key, amount=3000, reason="환불")
    day = paid.approved_at.astimezone(KST).date()
    mine = [line for line in gateway.settlement(day) if line.order_id == order_id]
    assert [(x.kind, x.amount, x.fee, x.payout, x.method) for x in mine] == [
        ("payment", 10000, 330, 9670, "card"),
        ("cancel", -3000, -99, -2901, "card"),
    ]
    assert gateway.settlement(day - timedelta(days=400)) == []


def test_an_unavailable_settlement_raises(gateway: TossGateway, fake: FakeToss) -> None:
    fake.fail_next("GET", "/v1/settlements", 503, {"code": "SERVICE_UNAVAILABLE", "message": "x"})
    with pytest.raises(GatewayUnavailable):
        gateway.settlement(datetime.now(KST).date())


# -- webhooks ------------------------------------------------------------------------------------


def test_a_status_webhook_is_verified_by_querying_toss(
    gateway: TossGateway, fake: FakeToss, sink: WebhookSink
) -> None:
    order_id = new_order()
    paid = approved(gateway, order_id)
    (delivery,) = webhooks_for(sink, order_id, 1)
    assert "tosspayments-webhook-signature" not in {k.lower() for k in delivery.headers}
    event = gateway.verify_webhook(delivery.headers, delivery.body, now())
    assert (event.event_type, event.payment, event.order_id) == (
        "PAYMENT_STATUS_CHANGED",
        paid,
        order_id,
    )
    fake.redeliver(delivery.headers, delivery.body)
    with sink.arrived:
        sink.arrived.wait_for(
            lambda: sum(d.body == delivery.body for d in sink.deliveries) >= 2, timeout=10
        )
    redelivered = [d for d in sink.deliveries if d.body == delivery.body][-1]
    assert redelivered.headers["tosspayments-webhook-transmission-retried-count"] == "1"
    again = gateway.verify_webhook(
        redelivered.headers, redelivered.body, now() + timedelta(hours=5)
    )
    assert again.event_id == event.event_id


def test_a_forged_status_webhook_cannot_claim_a_state(gateway: TossGateway) -> None:
    order_id = new_order()
    url = gateway.checkout_url(
        CheckoutRequest(order_id, 10000, "KRW", "card", "캐시", SUCCESS_URL, FAIL_URL)
    )
    key = urlsplit(url).path.split("/")[3]
    lie = {
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": datetime.now(KST).replace(tzinfo=None).isoformat(),
        "data": {"paymentKey": key, "orderId": order_id, "status": "DONE", "totalAmount": 10000},
    }
    event: WebhookEvent = gateway.verify_webhook({}, json.dumps(lie).encode(), now())
    assert event.payment == Pending(key, order_id, "READY")  # what Toss says, not the body
    lie["data"] = {"paymentKey": "tgen_made_up", "orderId": order_id, "status": "DONE"}
    with pytest.raises(InvalidWebhook, match="NOT_FOUND_PAYMENT"):
        gateway.verify_webhook({}, json.dumps(lie).encode(), now())


def test_signed_webhooks_forged_stale_or_reserialised_are_refused(
    gateway: TossGateway, fake: FakeToss, sink: WebhookSink, base_url: str
) -> None:
    headers, body = fake.payout_event()
    fake.deliver(headers, body)
    with sink.arrived:
        sink.arrived.wait_for(lambda: any(d.body == body for d in sink.deliveries), timeout=10)
    delivered = next(d for d in sink.deliveries if d.body == body)
    # Genuine: the signature holds, but a payout is no payment.
    with pytest.raises(InvalidWebhook, match="carries no payment"):
        gateway.verify_webhook(delivered.headers, delivered.body, now())
    reserialised = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
    with pytest.raises(InvalidWebhook, match="does not match"):
        gateway.verify_webhook(delivered.headers, reserialised, now())
    with pytest.raises(InvalidWebhook, match="stale"):
        gateway.verify_webhook(delivered.headers, delivered.body, now() + timedelta(minutes=6))
    other = TossGateway(CLIENT_KEY, SECRET_KEY, "another_key", base_url=base_url)
    with other, pytest.raises(InvalidWebhook, match="does not match"):
        other.verify_webhook(delivered.headers, delivered.body, now())


def test_a_signature_on_a_payment_event_is_checked_too(
    gateway: TossGateway, fake: FakeToss, sink: WebhookSink
) -> None:
    order_id = new_order()
    paid = approved(gateway, order_id)
    (delivery,) = webhooks_for(sink, order_id, 1)
    sent = datetime.now(KST).replace(microsecond=0).isoformat()
    headers = delivery.headers | {
        "tosspayments-webhook-transmission-time": sent,
        "tosspayments-webhook-signature": fake.sign(delivery.body, sent),
    }
    assert gateway.verify_webhook(headers, delivery.body, now()).payment == paid
    headers["tosspayments-webhook-signature"] = fake.sign(b"{}", sent)
    with pytest.raises(InvalidWebhook, match="does not match"):
        gateway.verify_webhook(headers, delivery.body, now())
