"""The sandbox adapter's reply-to-outcome table (sandbox.py docstring), one test per row.

``httpx.MockTransport`` answers in the sandbox's exact wire format; the live protocol is covered by
test_sandbox_live.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from coffer.payments.gateways import (
    Approved,
    Cancelled,
    Declined,
    PaymentCancelled,
    Pending,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.gateways.sandbox import SandboxGateway
from tests.gateways.wire_samples import cancel, payment

Handler = Callable[[httpx.Request], httpx.Response]


def gateway(handler: Handler) -> SandboxGateway:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return SandboxGateway("http://pg.test/", "ck", "test_sk", "whsec", client=client)


def answer(status: int, body: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body)


def raw(status: int, content: bytes) -> Handler:
    return lambda request: httpx.Response(status, content=content)


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


def error(code: str, message: str = "no") -> dict[str, str]:
    return {"code": code, "message": message}


# -- confirm: the request ----------------------------------------------------------------------


def test_confirm_posts_json_with_basic_auth_of_the_secret_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payment())

    outcome = gateway(handler).confirm("pk_1", "order-1", 10000)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://pg.test/v1/payments/confirm"
    expected = "Basic " + base64.b64encode(b"test_sk:").decode()
    assert request.headers["Authorization"] == expected
    assert json.loads(request.content) == {
        "paymentKey": "pk_1",
        "orderId": "order-1",
        "amount": 10000,
    }
    assert isinstance(outcome, Approved)
    assert (outcome.payment_key, outcome.order_id, outcome.amount) == ("pk_1", "order-1", 10000)
    assert (outcome.method, outcome.currency) == ("card", "KRW")
    assert outcome.approved_at.isoformat() == "2026-03-01T12:00:05+09:00"


# -- 200 Payment by status -----------------------------------------------------------------------


def test_waiting_for_deposit() -> None:
    account = {"accountNumber": "123-456", "bankCode": "04", "dueDate": "2026-03-08T12:00:00+09:00"}
    body = payment("WAITING_FOR_DEPOSIT", method="virtual_account", approvedAt=None)
    body["virtualAccount"] = account
    outcome = gateway(answer(200, body)).confirm("pk_1", "order-1", 10000)
    assert isinstance(outcome, WaitingForDeposit)
    assert (outcome.account_number, outcome.bank_code, outcome.amount) == ("123-456", "04", 10000)
    assert outcome.due_date.day == 8


@pytest.mark.parametrize("status", ["READY", "IN_PROGRESS"])
def test_ready_and_in_progress_are_pending(status: str) -> None:
    outcome = gateway(answer(200, payment(status, approvedAt=None))).query(payment_key="pk_1")
    assert outcome == Pending("pk_1", "order-1", status)


@pytest.mark.parametrize(("status", "partial"), [("CANCELED", False), ("PARTIAL_CANCELED", True)])
def test_cancelled_payments_are_representable(status: str, partial: bool) -> None:
    body = payment(status, balanceAmount=7000 if partial else 0)
    body["cancels"] = [cancel(3000, "txn_1")] + ([] if partial else [cancel(7000, "txn_2")])
    outcome = gateway(answer(200, body)).query(order_id="order-1")
    assert isinstance(outcome, PaymentCancelled)
    assert outcome.partial is partial
    assert (outcome.total_amount, outcome.balance_amount) == (10000, 7000 if partial else 0)
    assert outcome.cancels[0].transaction_key == "txn_1"
    assert outcome.cancels[0].amount == 3000


def test_aborted_is_declined_with_the_failure_code() -> None:
    body = payment("ABORTED", approvedAt=None, failure=error("REJECT_CARD_PAYMENT", "rejected"))
    outcome = gateway(answer(200, body)).query(payment_key="pk_1")
    assert outcome == Declined("REJECT_CARD_PAYMENT", "rejected")


def test_expired_without_failure_is_declined_with_the_status() -> None:
    outcome = gateway(answer(200, payment("EXPIRED", approvedAt=None))).query(payment_key="pk_1")
    assert isinstance(outcome, Declined)
    assert outcome.code == "EXPIRED"


def test_an_unexpected_status_is_unknown() -> None:
    outcome = gateway(answer(200, payment("ON_FIRE"))).query(payment_key="pk_1")
    assert isinstance(outcome, Unknown)


# -- broken 2xx replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(raw(200, b"<html>oops</html>"), id="not-json"),
        pytest.param(raw(200, b""), id="empty"),
        pytest.param(answer(200, [payment()]), id="not-an-object"),
        pytest.param(answer(200, payment(totalAmount=10000.0)), id="float-amount"),
        pytest.param(answer(200, payment(totalAmount="10000")), id="string-amount"),
        pytest.param(answer(200, payment(totalAmount=True)), id="bool-amount"),
        pytest.param(answer(200, payment(paymentKey=None)), id="no-key"),
        pytest.param(answer(200, payment(approvedAt="yesterday")), id="bad-time"),
        pytest.param(answer(200, payment(approvedAt="2026-03-01T12:00:05")), id="naive-time"),
        pytest.param(answer(200, payment("WAITING_FOR_DEPOSIT")), id="no-virtual-account"),
    ],
)
def test_a_broken_2xx_reply_is_unknown(handler: Handler) -> None:
    assert isinstance(gateway(handler).confirm("pk_1", "order-1", 10000), Unknown)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_AMOUNT"),
        (404, "NOT_FOUND_PAYMENT"),
        (400, "NOT_FOUND_PAYMENT"),
        (400, "NOT_FOUND_PAYMENT_SESSION"),
        (400, "REJECT_CARD_PAYMENT"),
        (400, "REJECT_ACCOUNT_PAYMENT"),
        (400, "REJECT_MOBILE"),
        (400, "INSUFFICIENT_VOUCHER_BALANCE"),
        (400, "INVALID_REQUEST"),
    ],
)
def test_a_4xx_with_a_code_is_a_definite_decline(status: int, code: str) -> None:
    outcome = gateway(answer(status, error(code, "why"))).confirm("pk_1", "order-1", 10000)
    assert outcome == Declined(code, "why")


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(401, error("UNAUTHORIZED_KEY")), id="401"),
        pytest.param(answer(403, error("FORBIDDEN")), id="403"),
        pytest.param(answer(408, error("TIMEOUT")), id="408"),
        pytest.param(answer(425, error("TOO_EARLY")), id="425"),
        pytest.param(answer(429, error("TOO_MANY_REQUESTS")), id="429"),
        pytest.param(answer(500, error("INTERNAL_ERROR")), id="500"),
        pytest.param(answer(502, error("BAD_GATEWAY")), id="502"),
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(raw(504, b"gateway timeout"), id="504-text"),
        pytest.param(raw(400, b"<html>bad</html>"), id="4xx-not-json"),
        pytest.param(answer(400, {"message": "no code"}), id="4xx-no-code"),
        pytest.param(answer(302, {}), id="3xx"),
        pytest.param(raising(httpx.ReadTimeout), id="read-timeout"),
        pytest.param(raising(httpx.ConnectTimeout), id="connect-timeout"),
        pytest.param(raising(httpx.ConnectError), id="connection-refused"),
        pytest.param(raising(httpx.RemoteProtocolError), id="connection-dropped"),
    ],
)
def test_everything_else_is_unknown_never_declined(handler: Handler) -> None:
    outcome = gateway(handler).confirm("pk_1", "order-1", 10000)
    assert isinstance(outcome, Unknown), outcome
    assert outcome.reason


def test_already_processed_confirm_asks_the_pg_what_happened() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(400, json=error("ALREADY_PROCESSED_PAYMENT"))
        return httpx.Response(200, json=payment())

    outcome = gateway(handler).confirm("pk_1", "order-1", 10000)
    assert isinstance(outcome, Approved)
    assert seen == ["POST /v1/payments/confirm", "GET /v1/payments/pk_1"]


def test_already_processed_then_a_failed_query_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json=error("ALREADY_PROCESSED_PAYMENT"))
        return httpx.Response(503, json=error("SERVICE_UNAVAILABLE"))

    assert isinstance(gateway(handler).confirm("pk_1", "order-1", 10000), Unknown)


# -- query ---------------------------------------------------------------------------------------


def test_query_paths_escape_the_key_and_order_id() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=payment())

    gw = gateway(handler)
    gw.query(payment_key="pk/1")
    gw.query(order_id="order 1")
    assert seen == ["/v1/payments/pk%2F1", "/v1/payments/orders/order%201"]


@pytest.mark.parametrize("kwargs", [{}, {"payment_key": "pk_1", "order_id": "order-1"}])
def test_query_needs_exactly_one_reference(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        gateway(answer(200, payment())).query(**kwargs)


# -- cancel --------------------------------------------------------------------------------------


def test_a_partial_cancel_reports_the_cancel_just_made() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        body = payment("PARTIAL_CANCELED", balanceAmount=5000)
        body["cancels"] = [cancel(2000, "txn_1"), cancel(3000, "txn_2")]
        return httpx.Response(200, json=body)

    outcome = gateway(handler).cancel("pk_1", amount=3000, reason="member asked")
    assert seen == [
        ("/v1/payments/pk_1/cancel", {"cancelReason": "member asked", "cancelAmount": 3000})
    ]
    assert isinstance(outcome, Cancelled)
    assert (outcome.balance_amount, outcome.cancelled_amount) == (5000, 3000)
    assert outcome.transaction_key == "txn_2"


def test_a_full_cancel_sends_no_amount() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        body = payment("CANCELED", balanceAmount=0)
        body["cancels"] = [cancel(10000, "txn_1")]
        return httpx.Response(200, json=body)

    outcome = gateway(handler).cancel("pk_1", amount=None, reason="refund")
    assert seen == [{"cancelReason": "refund"}]
    assert isinstance(outcome, Cancelled)
    assert outcome.balance_amount == 0


@pytest.mark.parametrize("code", ["INVALID_CANCEL_AMOUNT", "NOT_CANCELABLE_PAYMENT"])
def test_cancel_refusals_are_declines(code: str) -> None:
    outcome = gateway(answer(400, error(code))).cancel("pk_1", amount=1, reason="r")
    assert outcome == Declined(code, "no")


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(200, payment("DONE")), id="200-not-cancelled"),
        pytest.param(answer(200, payment("PARTIAL_CANCELED")), id="200-no-cancels"),
        pytest.param(raw(200, b"{"), id="200-broken"),
        pytest.param(answer(401, error("UNAUTHORIZED_KEY")), id="401"),
        pytest.param(answer(429, error("TOO_MANY_REQUESTS")), id="429"),
        pytest.param(answer(500, error("INTERNAL_ERROR")), id="500"),
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
        pytest.param(raising(httpx.ConnectError), id="connect"),
    ],
)
def test_cancel_unknowns(handler: Handler) -> None:
    assert isinstance(gateway(handler).cancel("pk_1", amount=None, reason="r"), Unknown)


@pytest.mark.parametrize("amount", [0, -1])
def test_cancel_refuses_a_non_positive_amount_before_sending(amount: int) -> None:
    from coffer.kernel.errors import InvalidInput

    with pytest.raises(InvalidInput):
        gateway(raising(httpx.ConnectError)).cancel("pk_1", amount=amount, reason="r")


# -- settlement ----------------------------------------------------------------------------------

LINES = [
    {
        "paymentKey": "pk_1",
        "orderId": "order-1",
        "method": "card",
        "type": "PAYMENT",
        "amount": 10000,
        "fee": 250,
        "payOutAmount": 9750,
        "transactedAt": "2026-03-01T09:00:05+09:00",
    },
    {
        "paymentKey": "pk_1",
        "orderId": "order-1",
        "method": "card",
        "type": "CANCEL",
        "amount": -3000,
        "fee": -75,
        "payOutAmount": -2925,
        "transactedAt": "2026-03-01T10:00:00+09:00",
    },
]


def test_settlement_lines() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=LINES)

    lines = gateway(handler).settlement(date(2026, 3, 1))
    assert seen == ["http://pg.test/v1/settlements?date=2026-03-01"]
    assert [(x.kind, x.amount, x.fee, x.payout) for x in lines] == [
        ("payment", 10000, 250, 9750),
        ("cancel", -3000, -75, -2925),
    ]


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(200, [LINES[0] | {"type": "REFUND"}]), id="unknown-type"),
        pytest.param(answer(200, [LINES[0] | {"fee": 2.5}]), id="float-fee"),
        pytest.param(answer(200, {"lines": LINES}), id="not-a-list"),
        pytest.param(answer(400, error("INVALID_DATE")), id="400"),
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
    ],
)
def test_unreadable_settlement_raises(handler: Handler) -> None:
    from coffer.payments.gateways import GatewayUnavailable

    with pytest.raises(GatewayUnavailable):
        gateway(handler).settlement(date(2026, 3, 1))
