"""The Stripe adapter against the local Stripe fake over real HTTP (uvicorn in a thread).

The browser is simulated with httpx: open the Checkout Session's ``url``, fill the card form,
follow the 303 to the success URL. The fake's clock ticks one second per reading (and can jump),
so days and webhook timestamps are deterministic; nothing here asserts on elapsed time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from coffer.kernel.errors import InvalidInput
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
)
from coffer.payments.gateways import stripe as stripe_module
from coffer.payments.gateways.stripe import StripeGateway, UnsupportedMethod
from tests.fakes.stripe import FakeStripeConfig, create_app
from tests.gateways.live_support import WebhookSink, read_forms, serve, webhook_sink

SECRET_KEY = "sk_test_coffer_live"
WEBHOOK_SECRET = "whsec_coffer_live"
SUCCESS_URL = "http://coffer.test/charges/return/ok"
FAIL_URL = "http://coffer.test/charges/return/fail"
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


class TickingClock:
    """Unix seconds that advance by one at each reading; ``jump`` moves on a whole day etc."""

    def __init__(self, start: datetime) -> None:
        self.now = int(start.timestamp())

    def __call__(self) -> int:
        self.now += 1
        return self.now

    def jump(self, delta: timedelta) -> None:
        self.now += int(delta.total_seconds())


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with webhook_sink() as running:
        yield running


@pytest.fixture(scope="module")
def clock() -> TickingClock:
    return TickingClock(START)


@pytest.fixture(scope="module")
def base_url(sink: WebhookSink, clock: TickingClock) -> Iterator[str]:
    config = FakeStripeConfig(
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_url=sink.url,
        hang_seconds=3.0,
        clock=clock,
    )
    with serve(create_app(config)) as url:
        yield url


@pytest.fixture
def gateway(base_url: str) -> Iterator[StripeGateway]:
    with StripeGateway(SECRET_KEY, WEBHOOK_SECRET, base_url=base_url, timeout=10.0) as gw:
        yield gw


def new_order() -> str:
    return f"LIVE-{uuid.uuid4().hex[:16]}"


def fault(base_url: str, method: str, path: str, kind: str) -> None:
    body = {"method": method, "path": path, "kind": kind}
    assert httpx.post(f"{base_url}/_fake/faults", json=body).status_code == 200


def checkout(gateway: StripeGateway, order_id: str, amount: int = 10000) -> str:
    request = CheckoutRequest(order_id, amount, "KRW", "card", "Cash", SUCCESS_URL, FAIL_URL)
    return gateway.checkout_url(request)


def pay(url: str, *cards: str) -> httpx.Response:
    """Try each card in turn on the hosted page; the last response (303 on success)."""
    with httpx.Client(headers={"Accept": "text/html"}) as browser:
        page = browser.get(url)
        for card in cards:
            assert page.status_code == 200, page.text
            (form,) = read_forms(page.text)
            filled = form.fields | {"card_number": card, "expiry": "12/39", "cvc": "123"}
            page = browser.post(urljoin(url, form.action), data=filled)
    return page


def returned(page: httpx.Response) -> tuple[str, dict[str, str]]:
    assert page.status_code == 303, page.text
    location = urlsplit(page.headers["location"])
    return f"{location.scheme}://{location.netloc}{location.path}", dict(parse_qsl(location.query))


def paid(gateway: StripeGateway, order_id: str, amount: int = 10000) -> Approved:
    url, params = returned(pay(checkout(gateway, order_id, amount), CARD_OK))
    assert url == SUCCESS_URL
    back = gateway.parse_return(params)
    assert (back.order_id, back.amount) == (order_id, None)
    assert back.payment_key.startswith("cs_")
    outcome = gateway.confirm(back.payment_key, back.order_id, amount)
    assert isinstance(outcome, Approved), outcome
    return outcome


# -- checkout, return, confirm, query ----------------------------------------------------------


def test_card_checkout_return_confirm_and_query(gateway: StripeGateway) -> None:
    order_id = new_order()
    url, params = returned(pay(checkout(gateway, order_id), CARD_OK))
    assert url == SUCCESS_URL
    back = gateway.parse_return(params)
    outcome = gateway.confirm(back.payment_key, order_id, 10000)
    assert isinstance(outcome, Approved)
    assert outcome.payment_key.startswith("pi_")
    assert (outcome.order_id, outcome.amount, outcome.method) == (order_id, 10000, "card")
    assert outcome.currency == "KRW"
    assert gateway.query(payment_key=outcome.payment_key) == outcome
    assert gateway.query(payment_key=back.payment_key) == outcome  # the session id works too
    assert gateway.query(order_id=order_id) == outcome
    assert gateway.confirm(back.payment_key, order_id, 10000) == outcome  # a retried confirm
    assert gateway.confirm(outcome.payment_key, order_id, 10000) == outcome


def test_an_unpaid_checkout_is_pending_by_session_and_declined_by_order(
    gateway: StripeGateway,
) -> None:
    order_id = new_order()
    url = checkout(gateway, order_id)
    session_id = url.rsplit("/", 1)[-1]
    assert gateway.query(payment_key=session_id) == Pending(session_id, order_id, "open")
    by_order = gateway.query(order_id=order_id)  # no PaymentIntent before the first card
    assert isinstance(by_order, Declined)
    assert by_order.code == "no_payment_for_order"


def test_a_declined_card_is_pending_while_the_checkout_is_open_then_paid(
    gateway: StripeGateway,
) -> None:
    order_id = new_order()
    url = checkout(gateway, order_id)
    page = pay(url, CARD_DECLINED)
    assert page.status_code == 200
    assert "declined" in page.text  # Checkout shows the refusal and lets the member retry
    waiting = gateway.query(order_id=order_id)
    assert isinstance(waiting, Pending)
    assert waiting.status == "requires_payment_method"
    _, params = returned(pay(url, CARD_OK))
    outcome = gateway.confirm(params["session_id"], order_id, 10000)
    assert isinstance(outcome, Approved)
    assert outcome.payment_key == waiting.payment_key


def test_confirming_a_refused_checkout_expires_it_and_declines(gateway: StripeGateway) -> None:
    order_id = new_order()
    url = checkout(gateway, order_id)
    assert pay(url, CARD_DECLINED).status_code == 200
    session_id = url.rsplit("/", 1)[-1]
    outcome = gateway.confirm(session_id, order_id, 10000)  # e.g. a forged return
    assert outcome == Declined("generic_decline", "Your card was declined.")
    assert read_forms(httpx.get(url).text) == []  # the page no longer takes a card
    assert gateway.query(payment_key=session_id) == outcome
    assert gateway.query(order_id=order_id) == outcome  # via the PaymentIntent's session


@pytest.mark.parametrize("method", ["transfer", "virtual_account", "mobile", "gift"])
def test_korean_methods_are_refused_at_checkout(
    gateway: StripeGateway, method: PaymentMethod
) -> None:
    request = CheckoutRequest(new_order(), 10000, "KRW", method, "Cash", SUCCESS_URL, FAIL_URL)
    with pytest.raises(UnsupportedMethod) as caught:
        gateway.checkout_url(request)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.code == "unsupported_method"


def test_another_currency_is_refused(gateway: StripeGateway) -> None:
    method: PaymentMethod = "card"
    request = CheckoutRequest(new_order(), 1000, "USD", method, "Cash", SUCCESS_URL, FAIL_URL)
    with pytest.raises(InvalidInput, match="KRW"):
        gateway.checkout_url(request)


# -- refunds -----------------------------------------------------------------------------------


def test_partial_then_full_refund_with_idempotency_keys(gateway: StripeGateway) -> None:
    order_id = new_order()
    approved = paid(gateway, order_id)
    first = gateway.cancel(approved.payment_key, amount=3000, reason="member asked")
    assert isinstance(first, Cancelled), first
    assert (first.payment_key, first.balance_amount, first.cancelled_amount) == (
        approved.payment_key,
        7000,
        3000,
    )
    assert first.transaction_key.startswith("re_")
    again = gateway.cancel(approved.payment_key, amount=3000, reason="member asked")
    assert again == first  # same key, same params: Stripe's saved answer, no second refund
    state = gateway.query(order_id=order_id)
    assert isinstance(state, PaymentCancelled)
    assert (state.partial, state.total_amount, state.balance_amount) == (True, 10000, 7000)
    assert [(c.amount, c.reason, c.transaction_key) for c in state.cancels] == [
        (3000, "member asked", first.transaction_key)
    ]
    too_much = gateway.cancel(approved.payment_key, amount=8000, reason="again")
    assert isinstance(too_much, Declined)
    assert too_much.code == "invalid_request_error"
    rest = gateway.cancel(approved.payment_key, amount=None, reason="the rest")
    assert isinstance(rest, Cancelled), rest
    assert (rest.balance_amount, rest.cancelled_amount) == (0, 7000)
    done = gateway.query(payment_key=approved.payment_key)
    assert isinstance(done, PaymentCancelled)
    assert not done.partial
    assert [c.amount for c in done.cancels] == [3000, 7000]
    refused = gateway.cancel(approved.payment_key, amount=None, reason="once more")
    assert refused == Declined(
        "charge_already_refunded", refused.message if isinstance(refused, Declined) else ""
    )


def test_a_refund_by_session_id_refunds_its_payment_intent(gateway: StripeGateway) -> None:
    order_id = new_order()
    _, params = returned(pay(checkout(gateway, order_id), CARD_OK))
    approved = gateway.confirm(params["session_id"], order_id, 10000)
    assert isinstance(approved, Approved)
    refund = gateway.cancel(params["session_id"], amount=None, reason="by session")
    assert isinstance(refund, Cancelled)
    assert (refund.payment_key, refund.balance_amount) == (approved.payment_key, 0)


def test_a_refund_that_times_out_is_unknown_and_its_retry_refunds_once(base_url: str) -> None:
    with StripeGateway(SECRET_KEY, WEBHOOK_SECRET, base_url=base_url, timeout=1.0) as gw:
        order_id = new_order()
        approved = paid(gw, order_id)
        fault(base_url, "POST", "/v1/refunds", "hang")  # Stripe refunds, the reply is lost
        lost = gw.cancel(approved.payment_key, amount=4000, reason="member asked")
        assert isinstance(lost, Unknown), lost
        retried = gw.cancel(approved.payment_key, amount=4000, reason="member asked")
        assert isinstance(retried, Cancelled), retried
        assert retried.balance_amount == 6000
        state = gw.query(payment_key=approved.payment_key)
        assert isinstance(state, PaymentCancelled)
        assert [c.amount for c in state.cancels] == [4000]


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "429", "401", "wrong_body"])
def test_stripe_faults_are_unknown_never_declined(
    gateway: StripeGateway, base_url: str, kind: str
) -> None:
    order_id = new_order()
    _, params = returned(pay(checkout(gateway, order_id), CARD_OK))
    fault(base_url, "GET", "/v1/checkout/sessions/", kind)
    outcome = gateway.confirm(params["session_id"], order_id, 10000)
    assert isinstance(outcome, Unknown), outcome
    assert isinstance(gateway.confirm(params["session_id"], order_id, 10000), Approved)


def test_a_wrong_secret_key_is_unknown(base_url: str) -> None:
    with StripeGateway("sk_test_wrong", WEBHOOK_SECRET, base_url=base_url) as gw:
        outcome = gw.query(payment_key="pi_whatever")
    assert isinstance(outcome, Unknown)
    assert "401" in outcome.reason


def test_checkout_raises_gateway_unavailable_when_stripe_fails(
    gateway: StripeGateway, base_url: str
) -> None:
    fault(base_url, "POST", "/v1/checkout/sessions", "500")
    with pytest.raises(GatewayUnavailable):
        checkout(gateway, new_order())


# -- settlement --------------------------------------------------------------------------------


def test_balance_transactions_become_settlement_lines_across_pages(
    gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_module, "PAGE_LIMIT", 2)  # force several pages
    first, second = new_order(), new_order()
    one = paid(gateway, first)
    two = paid(gateway, second, amount=20000)
    gateway.cancel(one.payment_key, amount=3000, reason="member asked")
    day = one.approved_at.date()
    assert two.approved_at.date() == day
    lines = [x for x in gateway.settlement(day) if x.order_id in (first, second)]
    assert [(x.order_id, x.kind, x.amount, x.fee, x.payout) for x in lines] == [
        (first, "payment", 10000, 340, 9660),
        (second, "payment", 20000, 680, 19320),
        (first, "cancel", -3000, 0, -3000),
    ]
    assert {x.payment_key for x in lines} == {one.payment_key, two.payment_key}
    assert all(x.method == "card" for x in lines)


def test_a_refund_on_a_later_day_finds_its_order_through_the_payment_intent(
    gateway: StripeGateway, clock: TickingClock
) -> None:
    order_id = new_order()
    approved = paid(gateway, order_id)
    clock.jump(timedelta(days=1))
    refund = gateway.cancel(approved.payment_key, amount=1000, reason="late")
    assert isinstance(refund, Cancelled)
    day = refund.cancelled_at.date()
    assert day != approved.approved_at.date()
    lines = [x for x in gateway.settlement(day) if x.payment_key == approved.payment_key]
    assert [(x.order_id, x.kind, x.amount) for x in lines] == [(order_id, "cancel", -1000)]


# -- webhooks ----------------------------------------------------------------------------------


def deliveries(sink: WebhookSink, order_id: str) -> dict[str, tuple[dict[str, str], bytes]]:
    """This order's deliveries by event type (the fake delivers before it answers)."""
    found = {}
    for delivery in sink.deliveries:
        event = json.loads(delivery.body)
        obj = event["data"]["object"]
        if order_id in (obj.get("client_reference_id"), obj.get("metadata", {}).get("order_id")):
            found[event["type"]] = (delivery.headers, delivery.body)
    return found


def signed_at(headers: dict[str, str]) -> datetime:
    parts = dict(part.split("=", 1) for part in headers["Stripe-Signature"].split(","))
    return datetime.fromtimestamp(int(parts["t"]), UTC)


def test_real_webhooks_are_verified_and_mapped(gateway: StripeGateway, sink: WebhookSink) -> None:
    order_id = new_order()
    approved = paid(gateway, order_id)
    gateway.cancel(approved.payment_key, amount=2500, reason="member asked")
    got = deliveries(sink, order_id)
    assert {
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "charge.refunded",
    } <= set(got)
    for kind in ("checkout.session.completed", "payment_intent.succeeded"):
        headers, body = got[kind]
        event = gateway.verify_webhook(headers, body, signed_at(headers))
        assert event.event_id.startswith("evt_")
        assert event.event_type == kind
        assert event.payment == approved
        assert (event.order_id, event.payment_key) == (order_id, approved.payment_key)
    headers, body = got["charge.refunded"]
    refunded = gateway.verify_webhook(headers, body, signed_at(headers)).payment
    assert isinstance(refunded, PaymentCancelled)
    assert (refunded.partial, refunded.balance_amount) == (True, 7500)
    headers, body = got["charge.succeeded"]
    assert isinstance(gateway.verify_webhook(headers, body, signed_at(headers)).payment, Unknown)


def test_forged_stale_and_reserialised_webhooks_are_refused(
    gateway: StripeGateway, sink: WebhookSink
) -> None:
    order_id = new_order()
    paid(gateway, order_id)
    headers, body = deliveries(sink, order_id)["checkout.session.completed"]
    at = signed_at(headers)
    gateway.verify_webhook(headers, body, at + timedelta(seconds=299))  # within the tolerance
    with pytest.raises(InvalidWebhook, match="stale"):
        gateway.verify_webhook(headers, body, at + timedelta(seconds=301))
    with pytest.raises(InvalidWebhook, match="stale"):
        gateway.verify_webhook(headers, body, at - timedelta(seconds=301))
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    with pytest.raises(InvalidWebhook, match="match"):
        gateway.verify_webhook(headers, compact, at)
    t = int(at.timestamp())
    forged = hmac.new(b"whsec_not_ours", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    with pytest.raises(InvalidWebhook, match="match"):
        gateway.verify_webhook({"Stripe-Signature": f"t={t},v1={forged}"}, body, at)
    with pytest.raises(InvalidWebhook, match="missing"):
        gateway.verify_webhook({}, body, at)
