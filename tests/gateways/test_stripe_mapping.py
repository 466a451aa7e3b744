"""The Stripe adapter's reply-to-outcome table (stripe.py docstring), one test per row.

``httpx.MockTransport`` answers with Stripe's wire format, the samples shaped like the API
reference's examples; the live protocol is covered by test_stripe_live.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from coffer.kernel.errors import InvalidInput
from coffer.payments.gateways import (
    Approved,
    Cancelled,
    CheckoutRequest,
    Declined,
    GatewayUnavailable,
    InvalidReturn,
    InvalidWebhook,
    PaymentCancelled,
    Pending,
    ReturnParams,
    Unknown,
)
from coffer.payments.gateways import stripe as stripe_module
from coffer.payments.gateways.stripe import (
    CheckoutRefused,
    StripeGateway,
    UnsupportedMethod,
    refund_idempotency_key,
)

Handler = Callable[[httpx.Request], httpx.Response]
Json = dict[str, Any]

PAID_AT = 1772413205  # 2026-03-02T01:00:05Z
SESSION = "cs_test_a1b2c3"
INTENT = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
CHARGE = "ch_3MtwBwLkdIwHu7ix0snN0B15"


# -- wire samples (the API reference's example objects, trimmed to the fields that matter) -----


def charge(**overrides: Any) -> Json:
    body: Json = {
        "id": CHARGE,
        "object": "charge",
        "amount": 10000,
        "amount_captured": 10000,
        "amount_refunded": 0,
        "balance_transaction": "txn_3MtwBwLkdIwHu7ix0Ixl3Fgy",
        "created": PAID_AT,
        "currency": "krw",
        "livemode": False,
        "metadata": {"order_id": "order-1"},
        "paid": True,
        "payment_intent": INTENT,
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}, "type": "card"},
        "refunded": False,
        "status": "succeeded",
    }
    return body | overrides


def intent(status: str = "succeeded", **overrides: Any) -> Json:
    body: Json = {
        "id": INTENT,
        "object": "payment_intent",
        "amount": 10000,
        "amount_capturable": 0,
        "amount_received": 10000 if status == "succeeded" else 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "created": PAID_AT - 5,
        "currency": "krw",
        "last_payment_error": None,
        "latest_charge": charge() if status == "succeeded" else None,
        "livemode": False,
        "metadata": {"order_id": "order-1"},
        "payment_method_types": ["card"],
        "status": status,
    }
    return body | overrides


def session(status: str = "complete", pi: Any = None, **overrides: Any) -> Json:
    body: Json = {
        "id": SESSION,
        "object": "checkout.session",
        "amount_subtotal": 10000,
        "amount_total": 10000,
        "cancel_url": "https://coffer.test/fail?order_id=order-1",
        "client_reference_id": "order-1",
        "created": PAID_AT - 60,
        "currency": "krw",
        "expires_at": PAID_AT + 86340,
        "livemode": False,
        "metadata": {"order_id": "order-1"},
        "mode": "payment",
        "payment_intent": pi,
        "payment_method_types": ["card"],
        "payment_status": "paid" if status == "complete" else "unpaid",
        "status": status,
        "success_url": "https://coffer.test/ok?session_id={CHECKOUT_SESSION_ID}&order_id=order-1",
        "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3" if status == "open" else None,
    }
    return body | overrides


def refund(amount: int, refund_id: str, created: int, **overrides: Any) -> Json:
    body: Json = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{refund_id}",
        "charge": CHARGE,
        "created": created,
        "currency": "krw",
        "metadata": {"reason": "member asked"},
        "payment_intent": INTENT,
        "reason": None,
        "receipt_number": None,
        "status": "succeeded",
    }
    return body | overrides


def listing(items: list[Json], url: str, has_more: bool = False) -> Json:
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def card_error(decline_code: str | None = "insufficient_funds") -> Json:
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": "Your card has insufficient funds.",
        "doc_url": "https://docs.stripe.com/error-codes/card-declined",
    }


def error(kind: str, code: str | None = None, message: str = "no", **more: Any) -> Json:
    return {"error": {"type": kind, "code": code, "message": message} | more}


# -- plumbing ----------------------------------------------------------------------------------


def gateway(handler: Handler) -> StripeGateway:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return StripeGateway(
        "sk_test_123", "whsec_123", base_url="https://api.stripe.test/", client=client
    )


def answer(status: int, body: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body)


def raw(status: int, content: bytes) -> Handler:
    return lambda request: httpx.Response(status, content=content)


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


def routes(table: dict[str, Any], seen: list[httpx.Request] | None = None) -> Handler:
    """Answer ``"METHOD /path"`` from ``table`` (a body for 200, or a ``(status, body)``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        reply = table[f"{request.method} {request.url.path}"]
        status, body = reply if isinstance(reply, tuple) else (200, reply)
        return httpx.Response(status, json=body)

    return handler


def form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def approved(**overrides: Any) -> Approved:
    values: Json = {
        "payment_key": INTENT,
        "order_id": "order-1",
        "amount": 10000,
        "method": "card",
        "approved_at": datetime.fromtimestamp(PAID_AT, UTC),
        "currency": "KRW",
    }
    return Approved(**(values | overrides))


# -- checkout ----------------------------------------------------------------------------------

REQUEST = CheckoutRequest(
    order_id="order-1",
    amount=10000,
    currency="KRW",
    method="card",
    order_name="Cash 10,000",
    success_url="https://coffer.test/ok",
    fail_url="https://coffer.test/fail?x=1",
)


def test_checkout_creates_a_form_encoded_session_with_bearer_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stripe_module, "unix_now", lambda: PAID_AT)
    seen: list[httpx.Request] = []
    url = gateway(routes({"POST /v1/checkout/sessions": session("open")}, seen)).checkout_url(
        REQUEST
    )
    assert url == "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"
    (request,) = seen
    assert str(request.url) == "https://api.stripe.test/v1/checkout/sessions"
    assert request.headers["Authorization"] == "Bearer sk_test_123"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Stripe-Version"] == stripe_module.API_VERSION
    assert "Idempotency-Key" not in request.headers
    assert form(request) == [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "krw"),
        ("line_items[0][price_data][unit_amount]", "10000"),  # KRW is zero-decimal
        ("line_items[0][price_data][product_data][name]", "Cash 10,000"),
        ("line_items[0][quantity]", "1"),
        ("payment_method_types[0]", "card"),
        ("client_reference_id", "order-1"),
        ("metadata[order_id]", "order-1"),
        ("payment_intent_data[metadata][order_id]", "order-1"),
        ("success_url", "https://coffer.test/ok?session_id={CHECKOUT_SESSION_ID}&order_id=order-1"),
        ("cancel_url", "https://coffer.test/fail?x=1&order_id=order-1"),
        ("expires_at", str(PAID_AT + 31 * 60)),  # Stripe's minimum is 30 minutes
    ]


@pytest.mark.parametrize("method", ["transfer", "virtual_account", "mobile", "gift"])
def test_checkout_refuses_other_methods_before_calling_stripe(method: Any) -> None:
    gw = gateway(raising(httpx.ConnectError))
    with pytest.raises(UnsupportedMethod, match="not offered through Stripe"):
        gw.checkout_url(CheckoutRequest("o", 1000, "KRW", method, "n", "https://a", "https://b"))


def test_checkout_refuses_another_currency_and_bad_amounts() -> None:
    gw = gateway(raising(httpx.ConnectError))
    with pytest.raises(InvalidInput, match="KRW"):
        gw.checkout_url(CheckoutRequest("o", 1000, "JPY", "card", "n", "https://a", "https://b"))
    with pytest.raises(InvalidInput):
        gw.checkout_url(CheckoutRequest("o", 0, "KRW", "card", "n", "https://a", "https://b"))


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(raising(httpx.ConnectError), id="unreachable"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
        pytest.param(answer(500, error("api_error")), id="500"),
        pytest.param(answer(401, error("invalid_request_error")), id="401"),
        pytest.param(answer(429, error("invalid_request_error", "rate_limit")), id="429"),
        pytest.param(raw(200, b"<html>"), id="not-json"),
        pytest.param(answer(200, session("open", url=None)), id="no-url"),
        pytest.param(answer(200, session("complete")), id="not-open"),
    ],
)
def test_checkout_raises_gateway_unavailable(handler: Handler) -> None:
    with pytest.raises(GatewayUnavailable):
        gateway(handler).checkout_url(REQUEST)


def test_checkout_refused_by_stripe_is_an_input_error() -> None:
    body = error("invalid_request_error", "amount_too_small", "Amount must be at least ₩100")
    with pytest.raises(CheckoutRefused) as caught:
        gateway(answer(400, body)).checkout_url(REQUEST)
    assert caught.value.details == {"stripe": "amount_too_small"}


@pytest.mark.parametrize(
    "currency", ["twd", "huf", "isk", "ugx", "kwd", "bhd", "jod", "omr", "tnd", "won", "kr"]
)
def test_currencies_that_are_not_plain_minor_units_are_refused(currency: str) -> None:
    with pytest.raises(ValueError, match=currency.upper() + "|ISO"):
        StripeGateway("sk", "whsec", currency=currency)


# -- the return --------------------------------------------------------------------------------


def test_parse_return_reads_the_session_and_order_without_an_amount() -> None:
    params = {"session_id": SESSION, "order_id": "order-1"}
    assert gateway(raising(httpx.ConnectError)).parse_return(params) == ReturnParams(
        SESSION, "order-1", None
    )


@pytest.mark.parametrize(
    "params",
    [
        {"order_id": "order-1"},
        {"session_id": SESSION},
        {"session_id": "{CHECKOUT_SESSION_ID}", "order_id": "order-1"},
        {"session_id": "pi_123", "order_id": "order-1"},
    ],
)
def test_parse_return_refuses_a_garbled_return(params: dict[str, str]) -> None:
    with pytest.raises(InvalidReturn):
        gateway(raising(httpx.ConnectError)).parse_return(params)


# -- confirm / query: payment states -----------------------------------------------------------


def test_confirm_retrieves_the_session_with_its_payment_intent_and_charge() -> None:
    seen: list[httpx.Request] = []
    handler = routes({f"GET /v1/checkout/sessions/{SESSION}": session(pi=intent())}, seen)
    outcome = gateway(handler).confirm(SESSION, "order-1", 10000)
    assert outcome == approved()
    (request,) = seen
    assert query(request) == [
        ("expand[]", "payment_intent"),
        ("expand[]", "payment_intent.latest_charge"),
    ]
    assert request.headers["Authorization"] == "Bearer sk_test_123"


def test_the_amount_is_stripes_for_the_caller_to_check() -> None:
    body = session(pi=intent(amount=9000, amount_received=9000), amount_total=9000)
    outcome = gateway(answer(200, body)).confirm(SESSION, "order-1", 10000)
    assert outcome == approved(amount=9000)


def test_a_refunded_payment_is_payment_cancelled_with_its_refunds_listed() -> None:
    pi = intent(latest_charge=charge(amount_refunded=3000))
    seen: list[httpx.Request] = []
    table = {
        f"GET /v1/payment_intents/{INTENT}": pi,
        "GET /v1/refunds": listing(
            [refund(2000, "re_2", PAID_AT + 20), refund(1000, "re_1", PAID_AT + 10)],
            "/v1/refunds",
        ),
    }
    outcome = gateway(routes(table, seen)).query(payment_key=INTENT)
    assert isinstance(outcome, PaymentCancelled)
    assert (outcome.total_amount, outcome.balance_amount, outcome.partial) == (10000, 7000, True)
    assert [(c.amount, c.transaction_key, c.reason) for c in outcome.cancels] == [
        (1000, "re_1", "member asked"),
        (2000, "re_2", "member asked"),
    ]
    assert query(seen[1]) == [("payment_intent", INTENT), ("limit", "100")]


def test_a_fully_refunded_payment_is_not_partial() -> None:
    pi = intent(latest_charge=charge(amount_refunded=10000, refunded=True))
    table = {
        f"GET /v1/payment_intents/{INTENT}": pi,
        "GET /v1/refunds": listing([refund(10000, "re_1", PAID_AT + 10)], "/v1/refunds"),
    }
    outcome = gateway(routes(table)).query(payment_key=INTENT)
    assert isinstance(outcome, PaymentCancelled)
    assert (outcome.partial, outcome.balance_amount) == (False, 0)


def test_failed_refunds_are_not_cancels() -> None:
    pi = intent(latest_charge=charge(amount_refunded=1000))
    refunds = [refund(500, "re_2", PAID_AT + 20, status="failed"), refund(1000, "re_1", PAID_AT)]
    table = {
        f"GET /v1/payment_intents/{INTENT}": pi,
        "GET /v1/refunds": listing(refunds, "/v1/refunds"),
    }
    outcome = gateway(routes(table)).query(payment_key=INTENT)
    assert isinstance(outcome, PaymentCancelled)
    assert [c.transaction_key for c in outcome.cancels] == ["re_1"]


@pytest.mark.parametrize(
    "status", ["processing", "requires_action", "requires_confirmation", "requires_capture"]
)
def test_unfinished_payment_intents_are_pending(status: str) -> None:
    body = session("complete", pi=intent(status), payment_status="unpaid")
    outcome = gateway(answer(200, body)).confirm(SESSION, "order-1", 10000)
    assert outcome == Pending(INTENT, "order-1", status)


def test_an_open_session_without_a_payment_intent_is_pending_on_the_session() -> None:
    outcome = gateway(answer(200, session("open"))).query(payment_key=SESSION)
    assert outcome == Pending(SESSION, "order-1", "open")


def test_an_expired_session_without_a_payment_intent_is_declined() -> None:
    outcome = gateway(answer(200, session("expired"))).query(payment_key=SESSION)
    assert isinstance(outcome, Declined)
    assert outcome.code == "checkout_session_expired"


def test_a_refused_card_in_an_open_session_is_pending_for_query() -> None:
    pi = intent("requires_payment_method", last_payment_error=card_error())
    outcome = gateway(answer(200, session("open", pi=pi))).query(payment_key=SESSION)
    assert outcome == Pending(INTENT, "order-1", "requires_payment_method")


def test_a_refused_card_in_an_expired_session_is_declined_with_the_decline_code() -> None:
    pi = intent("requires_payment_method", last_payment_error=card_error())
    outcome = gateway(answer(200, session("expired", pi=pi))).query(payment_key=SESSION)
    assert outcome == Declined("insufficient_funds", "Your card has insufficient funds.")


def test_confirm_expires_an_open_session_whose_card_was_refused() -> None:
    pi = intent("requires_payment_method", last_payment_error=card_error(None))
    seen: list[httpx.Request] = []
    table = {
        f"GET /v1/checkout/sessions/{SESSION}": session("open", pi=pi),
        f"POST /v1/checkout/sessions/{SESSION}/expire": session("expired", pi=INTENT),
    }
    outcome = gateway(routes(table, seen)).confirm(SESSION, "order-1", 10000)
    assert outcome == Declined("card_declined", "Your card has insufficient funds.")
    assert [f"{r.method} {r.url.path}" for r in seen] == [
        f"GET /v1/checkout/sessions/{SESSION}",
        f"POST /v1/checkout/sessions/{SESSION}/expire",
    ]


def test_confirm_reads_again_when_the_session_completed_before_it_could_expire() -> None:
    pi = intent("requires_payment_method", last_payment_error=card_error())
    reads = iter([session("open", pi=pi), session(pi=intent())])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = error("invalid_request_error", None, "not in an expireable state")
            return httpx.Response(400, json=body)
        return httpx.Response(200, json=next(reads))

    assert gateway(handler).confirm(SESSION, "order-1", 10000) == approved()


def test_confirm_is_unknown_when_the_expiry_is_unknown() -> None:
    pi = intent("requires_payment_method", last_payment_error=card_error())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(503, json=error("api_error"))
        return httpx.Response(200, json=session("open", pi=pi))

    assert isinstance(gateway(handler).confirm(SESSION, "order-1", 10000), Unknown)


def test_a_canceled_payment_intent_is_declined() -> None:
    pi = intent("canceled", cancellation_reason="abandoned")
    outcome = gateway(answer(200, session("expired", pi=pi))).query(payment_key=SESSION)
    assert isinstance(outcome, Declined)
    assert outcome.code == "payment_intent_canceled"
    assert "abandoned" in outcome.message


def test_query_by_payment_intent_looks_up_the_session_of_a_refused_card() -> None:
    seen: list[httpx.Request] = []
    pi = intent("requires_payment_method", last_payment_error=card_error())
    table = {
        f"GET /v1/payment_intents/{INTENT}": pi,
        "GET /v1/checkout/sessions": listing(
            [session("expired", pi=INTENT)], "/v1/checkout/sessions"
        ),
    }
    outcome = gateway(routes(table, seen)).query(payment_key=INTENT)
    assert outcome == Declined("insufficient_funds", "Your card has insufficient funds.")
    assert query(seen[0]) == [("expand[]", "latest_charge")]
    assert query(seen[1]) == [("payment_intent", INTENT), ("limit", "1")]


def test_a_succeeded_payment_intent_needs_no_second_call() -> None:
    seen: list[httpx.Request] = []
    table = {f"GET /v1/payment_intents/{INTENT}": intent()}
    assert gateway(routes(table, seen)).query(payment_key=INTENT) == approved()
    assert len(seen) == 1


def test_query_by_order_searches_payment_intents_by_metadata() -> None:
    seen: list[httpx.Request] = []
    failed = intent(
        "requires_payment_method",
        id="pi_old",
        created=PAID_AT - 100,
        last_payment_error=card_error(),
    )
    search = {
        "object": "search_result",
        "data": [failed, intent()],
        "has_more": False,
        "next_page": None,
        "url": "/v1/payment_intents/search",
    }
    outcome = gateway(routes({"GET /v1/payment_intents/search": search}, seen)).query(
        order_id="order-1"
    )
    assert outcome == approved()  # the succeeded one tells the order's state
    assert query(seen[0]) == [
        ("query", "metadata['order_id']:'order-1'"),
        ("limit", "100"),
        ("expand[]", "data.latest_charge"),
    ]


def test_query_by_order_escapes_quotes_in_the_search_literal() -> None:
    seen: list[httpx.Request] = []
    empty = {"object": "search_result", "data": [], "has_more": False, "url": "/x"}
    gateway(routes({"GET /v1/payment_intents/search": empty}, seen)).query(order_id="o'1\\")
    assert query(seen[0])[0] == ("query", "metadata['order_id']:'o\\'1\\\\'")


def test_query_by_order_without_any_payment_intent_is_declined() -> None:
    empty = {"object": "search_result", "data": [], "has_more": False, "url": "/x"}
    outcome = gateway(answer(200, empty)).query(order_id="order-1")
    assert isinstance(outcome, Declined)
    assert outcome.code == "no_payment_for_order"


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(400, error("invalid_request_error", None, "search")), id="400"),
        pytest.param(answer(503, error("api_error")), id="503"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
    ],
)
def test_query_by_order_is_unknown_when_the_search_fails(handler: Handler) -> None:
    assert isinstance(gateway(handler).query(order_id="order-1"), Unknown)


@pytest.mark.parametrize("kwargs", [{}, {"payment_key": INTENT, "order_id": "order-1"}])
def test_query_needs_exactly_one_reference(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        gateway(answer(200, intent())).query(**kwargs)


def test_query_paths_escape_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=intent())

    gateway(handler).query(payment_key="pi_1/2")
    gateway(handler).query(payment_key="cs_1/2")
    assert [r.url.raw_path.decode().split("?")[0] for r in seen] == [
        "/v1/payment_intents/pi_1%2F2",
        "/v1/checkout/sessions/cs_1%2F2",
    ]


# -- broken 2xx replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>oops</html>", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(json.dumps([session(pi=intent())]).encode(), id="not-an-object"),
        pytest.param(json.dumps(intent()).encode(), id="wrong-object-type"),
        pytest.param(json.dumps(session(pi=intent(amount_received=10000.0))).encode(), id="float"),
        pytest.param(json.dumps(session(pi=intent(amount_received="10000"))).encode(), id="str"),
        pytest.param(json.dumps(session(pi=intent(amount_received=True))).encode(), id="bool"),
        pytest.param(json.dumps(session(pi=intent(id=None))).encode(), id="no-id"),
        pytest.param(json.dumps(session(pi=intent(latest_charge=CHARGE))).encode(), id="no-charge"),
        pytest.param(
            json.dumps(session(pi=intent(latest_charge=charge(created="today")))).encode(),
            id="bad-time",
        ),
        pytest.param(
            json.dumps(session(pi=intent(metadata={}), client_reference_id=None)).encode(),
            id="no-order-id",
        ),
        pytest.param(json.dumps(session(pi=intent("on_fire"))).encode(), id="odd-status"),
        pytest.param(json.dumps(session("complete")).encode(), id="complete-without-payment"),
    ],
)
def test_a_broken_2xx_reply_is_unknown(body: bytes) -> None:
    outcome = gateway(raw(200, body)).confirm(SESSION, "order-1", 10000)
    assert isinstance(outcome, Unknown), outcome


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (404, error("invalid_request_error", "resource_missing", param="id"), "resource_missing"),
        (402, {"error": card_error()}, "insufficient_funds"),
        (402, {"error": card_error(None)}, "card_declined"),
        (400, error("invalid_request_error", None), "invalid_request_error"),
        (400, error("invalid_request_error", "parameter_missing"), "parameter_missing"),
    ],
)
def test_a_4xx_with_an_error_object_is_a_definite_decline(
    status: int, body: Json, code: str
) -> None:
    outcome = gateway(answer(status, body)).query(payment_key=INTENT)
    assert isinstance(outcome, Declined)
    assert outcome.code == code


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(401, error("invalid_request_error")), id="401"),
        pytest.param(answer(403, error("invalid_request_error")), id="403"),
        pytest.param(answer(408, error("invalid_request_error")), id="408"),
        pytest.param(
            answer(409, error("invalid_request_error", "idempotency_key_in_use")), id="409"
        ),
        pytest.param(answer(424, error("invalid_request_error")), id="424"),
        pytest.param(answer(425, error("invalid_request_error")), id="425"),
        pytest.param(answer(429, error("invalid_request_error", "rate_limit")), id="429"),
        pytest.param(answer(400, error("idempotency_error")), id="idempotency_error"),
        pytest.param(
            answer(400, error("invalid_request_error", "lock_timeout")), id="lock_timeout"
        ),
        pytest.param(answer(400, error("api_error")), id="api_error-on-4xx"),
        pytest.param(answer(500, error("api_error")), id="500"),
        pytest.param(answer(502, error("api_error")), id="502"),
        pytest.param(answer(503, error("api_error")), id="503"),
        pytest.param(raw(504, b"gateway timeout"), id="504-text"),
        pytest.param(raw(400, b"<html>bad</html>"), id="4xx-not-json"),
        pytest.param(answer(400, {"message": "no error object"}), id="4xx-no-error-object"),
        pytest.param(answer(400, {"error": {"message": "no type"}}), id="4xx-no-type"),
        pytest.param(answer(302, {}), id="3xx"),
        pytest.param(raising(httpx.ReadTimeout), id="read-timeout"),
        pytest.param(raising(httpx.ConnectTimeout), id="connect-timeout"),
        pytest.param(raising(httpx.ConnectError), id="connection-refused"),
        pytest.param(raising(httpx.RemoteProtocolError), id="connection-dropped"),
    ],
)
def test_everything_else_is_unknown_never_declined(handler: Handler) -> None:
    for outcome in (
        gateway(handler).confirm(SESSION, "order-1", 10000),
        gateway(handler).query(payment_key=INTENT),
        gateway(handler).cancel(INTENT, amount=None, reason="r"),
    ):
        assert isinstance(outcome, Unknown), outcome
        assert outcome.reason


def test_refunds_that_cannot_be_listed_make_the_query_unknown() -> None:
    table = {
        f"GET /v1/payment_intents/{INTENT}": intent(latest_charge=charge(amount_refunded=10)),
        "GET /v1/refunds": (503, error("api_error")),
    }
    assert isinstance(gateway(routes(table)).query(payment_key=INTENT), Unknown)


# -- cancel ------------------------------------------------------------------------------------


def made_refund(amount: int, refunded_so_far: int, **overrides: Any) -> Json:
    expanded = charge(amount_refunded=refunded_so_far, refunded=refunded_so_far == 10000)
    return refund(amount, "re_9", PAID_AT + 99, charge=expanded) | overrides


def test_a_partial_refund_posts_the_amount_with_a_deterministic_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    handler = routes({"POST /v1/refunds": made_refund(3000, 5000)}, seen)
    outcome = gateway(handler).cancel(INTENT, amount=3000, reason="member asked")
    assert outcome == Cancelled(
        INTENT, 5000, 3000, "re_9", datetime.fromtimestamp(PAID_AT + 99, UTC)
    )
    gateway(handler).cancel(INTENT, amount=3000, reason="member asked")
    first, again = seen
    assert form(first) == [
        ("payment_intent", INTENT),
        ("metadata[reason]", "member asked"),
        ("amount", "3000"),
        ("expand[]", "charge"),
    ]
    key = first.headers["Idempotency-Key"]
    assert (
        key
        == again.headers["Idempotency-Key"]
        == refund_idempotency_key(INTENT, 3000, "member asked")
    )
    assert key.startswith("coffer-refund-")
    assert len(key) <= 255
    assert refund_idempotency_key(INTENT, 3000, "other") != key
    assert refund_idempotency_key(INTENT, 2999, "member asked") != key
    assert refund_idempotency_key(INTENT, None, "member asked") != key


def test_a_full_refund_sends_no_amount() -> None:
    seen: list[httpx.Request] = []
    outcome = gateway(routes({"POST /v1/refunds": made_refund(10000, 10000)}, seen)).cancel(
        INTENT, amount=None, reason="refund"
    )
    assert [k for k, _ in form(seen[0])] == ["payment_intent", "metadata[reason]", "expand[]"]
    assert isinstance(outcome, Cancelled)
    assert outcome.balance_amount == 0


def test_a_refund_by_session_id_resolves_the_payment_intent_first() -> None:
    seen: list[httpx.Request] = []
    table = {
        f"GET /v1/checkout/sessions/{SESSION}": session(pi=intent()),
        "POST /v1/refunds": made_refund(10000, 10000),
    }
    outcome = gateway(routes(table, seen)).cancel(SESSION, amount=None, reason="r")
    assert isinstance(outcome, Cancelled)
    assert ("payment_intent", INTENT) in form(seen[1])
    assert seen[1].headers["Idempotency-Key"] == refund_idempotency_key(INTENT, None, "r")


def test_a_refund_of_an_unpaid_session_is_declined_without_posting() -> None:
    seen: list[httpx.Request] = []
    table = {f"GET /v1/checkout/sessions/{SESSION}": session("expired")}
    outcome = gateway(routes(table, seen)).cancel(SESSION, amount=None, reason="r")
    assert isinstance(outcome, Declined)
    assert len(seen) == 1


def test_a_pending_refund_is_accepted() -> None:
    body = made_refund(3000, 3000, status="pending")
    assert isinstance(gateway(answer(200, body)).cancel(INTENT, amount=3000, reason="r"), Cancelled)


@pytest.mark.parametrize(
    ("status", "code"), [("failed", "expired_or_canceled_card"), ("canceled", "refund_canceled")]
)
def test_a_failed_refund_is_declined(status: str, code: str) -> None:
    reason = "expired_or_canceled_card" if status == "failed" else None
    body = made_refund(3000, 0, status=status, failure_reason=reason)
    outcome = gateway(answer(200, body)).cancel(INTENT, amount=3000, reason="r")
    assert isinstance(outcome, Declined)
    assert outcome.code == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (error("invalid_request_error", "charge_already_refunded"), "charge_already_refunded"),
        (
            error("invalid_request_error", None, "Refund amount is greater", param="amount"),
            "invalid_request_error",
        ),
    ],
)
def test_refund_refusals_are_declines(body: Json, code: str) -> None:
    outcome = gateway(answer(400, body)).cancel(INTENT, amount=1, reason="r")
    assert isinstance(outcome, Declined)
    assert outcome.code == code


@pytest.mark.parametrize(
    "body",
    [
        made_refund(3000, 3000, charge=CHARGE),  # charge not expanded
        made_refund(3000, 3000, status="requires_action"),
        made_refund(3000, 3000) | {"amount": None},
        intent(),
    ],
)
def test_an_unreadable_refund_is_unknown(body: Json) -> None:
    assert isinstance(gateway(answer(200, body)).cancel(INTENT, amount=3000, reason="r"), Unknown)


@pytest.mark.parametrize("amount", [0, -1])
def test_cancel_refuses_a_non_positive_amount_before_sending(amount: int) -> None:
    with pytest.raises(InvalidInput):
        gateway(raising(httpx.ConnectError)).cancel(INTENT, amount=amount, reason="r")


# -- settlement --------------------------------------------------------------------------------

DAY = date(2026, 3, 2)


def txn(txn_id: str, kind: str, amount: int, fee: int, source: Any, created: int) -> Json:
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 7 * 86400,
        "created": created,
        "currency": "krw",
        "description": None,
        "fee": fee,
        "fee_details": [{"amount": fee, "currency": "krw", "type": "stripe_fee"}] if fee else [],
        "net": amount - fee,
        "reporting_category": kind,
        "source": source,
        "status": "pending",
        "type": kind,
    }


PAYMENT_LINE = txn("txn_1", "charge", 10000, 340, charge(), PAID_AT)
REFUND_LINE = txn("txn_2", "refund", -3000, 0, refund(3000, "re_1", PAID_AT + 60), PAID_AT + 60)
PAYOUT_LINE = txn("txn_3", "payout", -50000, 0, "po_1", PAID_AT + 120)


def test_settlement_pages_through_the_utc_day_and_maps_charges_and_refunds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stripe_module, "PAGE_LIMIT", 2)
    seen: list[httpx.Request] = []
    pages = iter(
        [
            listing([PAYOUT_LINE, REFUND_LINE], "/v1/balance_transactions", has_more=True),
            listing([PAYMENT_LINE], "/v1/balance_transactions"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=next(pages))

    lines = gateway(handler).settlement(DAY)
    start = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    assert query(seen[0]) == [
        ("created[gte]", str(start)),
        ("created[lt]", str(start + 86400)),
        ("limit", "2"),
        ("expand[]", "data.source"),
    ]
    assert query(seen[1])[-1] == ("starting_after", "txn_2")
    assert [(x.kind, x.amount, x.fee, x.payout, x.payment_key, x.order_id) for x in lines] == [
        ("payment", 10000, 340, 9660, INTENT, "order-1"),
        ("cancel", -3000, 0, -3000, INTENT, "order-1"),
    ]
    assert lines[0].method == "card"
    assert lines[0].transacted_at == datetime.fromtimestamp(PAID_AT, UTC)


def test_a_refund_line_without_its_charge_reads_the_payment_intent() -> None:
    seen: list[httpx.Request] = []
    table = {
        "GET /v1/balance_transactions": listing([REFUND_LINE], "/v1/balance_transactions"),
        f"GET /v1/payment_intents/{INTENT}": intent(),
    }
    lines = gateway(routes(table, seen)).settlement(DAY)
    assert [(x.kind, x.order_id, x.method) for x in lines] == [("cancel", "order-1", "card")]
    assert query(seen[1]) == [("expand[]", "latest_charge")]


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(200, listing([PAYMENT_LINE | {"fee": 3.4}], "/x")), id="float-fee"),
        pytest.param(answer(200, listing([PAYMENT_LINE | {"net": 1}], "/x")), id="net-mismatch"),
        pytest.param(
            answer(200, listing([PAYMENT_LINE | {"source": CHARGE}], "/x")), id="unexpanded"
        ),
        pytest.param(answer(200, listing([PAYMENT_LINE | {"currency": "usd"}], "/x")), id="usd"),
        pytest.param(answer(200, {"data": [PAYMENT_LINE]}), id="no-envelope"),
        pytest.param(answer(200, listing([], "/x", has_more=True)), id="empty-has-more"),
        pytest.param(answer(400, error("invalid_request_error")), id="400"),
        pytest.param(answer(503, error("api_error")), id="503"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
    ],
)
def test_unreadable_settlement_raises(handler: Handler) -> None:
    with pytest.raises(GatewayUnavailable):
        gateway(handler).settlement(DAY)


# -- webhooks ----------------------------------------------------------------------------------

SECRET = "whsec_123"
T = PAID_AT + 1
NOW = datetime.fromtimestamp(T, UTC)


def event(kind: str, obj: Json, event_id: str = "evt_1") -> Json:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": PAID_AT,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def signed(body: bytes, t: int = T, secret: str = SECRET, extra: str = "") -> dict[str, str]:
    """Stripe's scheme, computed independently of the code under test."""
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={t},v1={v1}{extra}"}


def verified(data: Json) -> Any:
    body = json.dumps(data, indent=2).encode()
    return gateway(raising(httpx.ConnectError)).verify_webhook(signed(body), body, NOW)


def test_checkout_session_completed_is_approved() -> None:
    got = verified(event("checkout.session.completed", session(pi=INTENT)))
    assert (got.event_id, got.event_type, got.created_at) == (
        "evt_1",
        "checkout.session.completed",
        datetime.fromtimestamp(PAID_AT, UTC),
    )
    assert got.payment == approved()
    assert (got.order_id, got.payment_key) == ("order-1", INTENT)


def test_an_async_session_is_pending_then_succeeds_or_fails() -> None:
    unpaid = session(pi=INTENT, payment_status="unpaid")
    assert verified(event("checkout.session.completed", unpaid)).payment == Pending(
        INTENT, "order-1", "unpaid"
    )
    assert (
        verified(event("checkout.session.async_payment_succeeded", session(pi=INTENT))).payment
        == approved()
    )
    failed = verified(event("checkout.session.async_payment_failed", unpaid))
    assert failed.payment == Declined("async_payment_failed", "The delayed payment failed.")
    assert (failed.order_id, failed.payment_key) == ("order-1", INTENT)


def test_an_expired_session_is_declined_and_names_the_order() -> None:
    got = verified(event("checkout.session.expired", session("expired")))
    assert isinstance(got.payment, Declined)
    assert (got.order_id, got.payment_key) == ("order-1", SESSION)


def test_payment_intent_events() -> None:
    succeeded = intent(latest_charge=CHARGE)
    assert verified(event("payment_intent.succeeded", succeeded)).payment == approved()
    failed = intent("requires_payment_method", last_payment_error=card_error())
    got = verified(event("payment_intent.payment_failed", failed))
    # Not final: Checkout lets the member try another card until the session expires.
    assert got.payment == Pending(INTENT, "order-1", "requires_payment_method")
    assert (got.order_id, got.payment_key) == ("order-1", INTENT)
    canceled = verified(event("payment_intent.canceled", intent("canceled"))).payment
    assert isinstance(canceled, Declined)


def test_charge_refunded_is_payment_cancelled() -> None:
    refunded = charge(amount_refunded=3000)
    got = verified(event("charge.refunded", refunded))
    assert got.payment == PaymentCancelled(INTENT, "order-1", "card", 10000, 7000, True, ())
    with_list = refunded | {"refunds": listing([refund(3000, "re_1", PAID_AT)], "/v1/refunds")}
    cancels = verified(event("charge.refunded", with_list)).payment.cancels
    assert [c.transaction_key for c in cancels] == ["re_1"]


@pytest.mark.parametrize(
    "data",
    [
        event("charge.succeeded", charge()),
        event("customer.created", {"id": "cus_1", "object": "customer"}),
        event("checkout.session.completed", {"id": SESSION, "object": "checkout.session"}),
        event("payment_intent.succeeded", intent(metadata={})),
        event("charge.refunded", intent()),
    ],
)
def test_other_or_unreadable_authentic_events_carry_unknown(data: Json) -> None:
    got = verified(data)
    assert isinstance(got.payment, Unknown)
    assert got.event_id == "evt_1"


BODY = json.dumps(event("checkout.session.completed", session(pi=INTENT)), indent=2).encode()


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        pytest.param({}, BODY, "missing", id="no-header"),
        pytest.param(signed(BODY, secret="whsec_other"), BODY, "match", id="forged"),
        pytest.param(signed(BODY, t=T - 301), BODY, "stale", id="too-old"),
        pytest.param(signed(BODY, t=T + 301), BODY, "stale", id="from-the-future"),
        pytest.param(
            signed(BODY), json.dumps(json.loads(BODY)).encode(), "match", id="reserialised"
        ),
        pytest.param({"Stripe-Signature": f"t={T},v0=abc"}, BODY, "lacks", id="v0-only"),
        pytest.param({"Stripe-Signature": "t=soon,v1=abc"}, BODY, "integer", id="bad-t"),
        pytest.param(signed(b"not json"), b"not json", "readable", id="not-json"),
        pytest.param(signed(b"[1]"), b"[1]", "readable", id="not-an-event"),
    ],
)
def test_bad_webhooks_are_refused(headers: dict[str, str], body: bytes, why: str) -> None:
    with pytest.raises(InvalidWebhook, match=why):
        gateway(raising(httpx.ConnectError)).verify_webhook(headers, body, NOW)


def test_any_v1_may_match_while_a_secret_rotates() -> None:
    other = hmac.new(b"whsec_old", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = signed(BODY, extra=f",v1={other},v0=ignored")
    reordered = {
        "Stripe-Signature": f"t={T},v1={other}," + headers["stripe-signature"].split(",", 1)[1]
    }
    for h in (headers, reordered):
        assert (
            gateway(raising(httpx.ConnectError)).verify_webhook(h, BODY, NOW).payment == approved()
        )


def test_the_tolerance_edge_is_accepted() -> None:
    gw = gateway(raising(httpx.ConnectError))
    assert gw.verify_webhook(signed(BODY, t=T - 300), BODY, NOW).event_id == "evt_1"
