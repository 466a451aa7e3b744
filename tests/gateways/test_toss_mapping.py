"""The Toss adapter's reply-to-outcome table (toss.py docstring), with Toss's exact wire format.

``httpx.MockTransport`` answers with Payment / Settlement objects and ``{code, message}`` bodies
shaped like the samples in https://docs.tosspayments.com/reference; the live protocol is covered
by test_toss_live.py against tests/fakes/toss.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

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
    WaitingForDeposit,
)
from coffer.payments.gateways.toss import TossGateway, idempotency_key

Handler = Callable[[httpx.Request], httpx.Response]
KST = timezone(timedelta(hours=9))
SECURITY_KEY = "toss_security_key"
NOW = datetime(2026, 3, 1, 3, 0, 10, tzinfo=UTC)  # 12:00:10 in Korea


def payment(status: str = "DONE", **overrides: Any) -> dict[str, Any]:
    """A Payment object as Toss's API version 2022-11-16 returns it (card)."""
    body: dict[str, Any] = {
        "mId": "tosspayments",
        "lastTransactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
        "paymentKey": "tviva20260301115959MvuS8",
        "orderId": "ORDER-000001",
        "orderName": "캐시 10,000원",
        "taxExemptionAmount": 0,
        "status": status,
        "requestedAt": "2026-03-01T11:59:59+09:00",
        "approvedAt": "2026-03-01T12:00:05+09:00",
        "useEscrow": False,
        "cultureExpense": False,
        "card": {
            "issuerCode": "61",
            "acquirerCode": "31",
            "number": "43301234****123*",
            "installmentPlanMonths": 0,
            "isInterestFree": False,
            "interestPayer": None,
            "approveNo": "00000000",
            "useCardPoint": False,
            "cardType": "신용",
            "ownerType": "개인",
            "acquireStatus": "READY",
            "amount": 10000,
        },
        "virtualAccount": None,
        "transfer": None,
        "mobilePhone": None,
        "giftCertificate": None,
        "cashReceipt": None,
        "cashReceipts": None,
        "discount": None,
        "cancels": None,
        "secret": None,
        "type": "NORMAL",
        "easyPay": None,
        "country": "KR",
        "failure": None,
        "isPartialCancelable": True,
        "receipt": {"url": "https://dashboard.tosspayments.com/receipt/redirection"},
        "checkout": {"url": "https://api.tosspayments.com/v1/payments/tviva/checkout"},
        "currency": "KRW",
        "totalAmount": 10000,
        "balanceAmount": 10000,
        "suppliedAmount": 9091,
        "vat": 909,
        "taxFreeAmount": 0,
        "method": "카드",
        "version": "2022-11-16",
        "metadata": None,
    }
    body.update(overrides)
    return body


KEY = "tviva20260301115959MvuS8"
ORDER = "ORDER-000001"


def cancel_entry(amount: int, key: str, refundable: int = 0) -> dict[str, Any]:
    return {
        "cancelAmount": amount,
        "cancelReason": "고객 요청",
        "taxFreeAmount": 0,
        "taxExemptionAmount": 0,
        "refundableAmount": refundable,
        "easyPayDiscountAmount": 0,
        "canceledAt": "2026-03-01T13:00:00+09:00",
        "transactionKey": key,
        "receiptKey": None,
        "cancelStatus": "DONE",
        "cancelRequestId": None,
    }


def virtual_account(**overrides: Any) -> dict[str, Any]:
    account = {
        "accountType": "일반",
        "accountNumber": "X6505636518308",
        "bankCode": "20",
        "customerName": "김토스",
        "dueDate": "2026-03-08T12:00:05+09:00",
        "refundStatus": "NONE",
        "expired": False,
        "settlementStatus": "INCOMPLETED",
        "refundReceiveAccount": None,
    }
    return (
        payment(
            "WAITING_FOR_DEPOSIT",
            method="가상계좌",
            approvedAt=None,
            card=None,
            virtualAccount=account,
            secret="ps_Z1aOwX7K8mYwdqEqQ8yj8yQxzvNP",
        )
        | overrides
    )


def gateway(handler: Handler) -> TossGateway:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return TossGateway(
        "test_ck", "test_sk", SECURITY_KEY, base_url="http://toss.test/", client=client
    )


def answer(status: int, body: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body)


def raw(status: int, content: bytes) -> Handler:
    return lambda request: httpx.Response(status, content=content)


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


def error(code: str, message: str = "거절") -> dict[str, str]:
    return {"code": code, "message": message}


# -- confirm: the request ----------------------------------------------------------------------


def test_confirm_posts_json_with_basic_auth_and_a_derived_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payment())

    gw = gateway(handler)
    outcome = gw.confirm(KEY, ORDER, 10000)
    gw.confirm(KEY, ORDER, 10000)
    first, again = seen
    assert first.method == "POST"
    assert str(first.url) == "http://toss.test/v1/payments/confirm"
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"test_sk:").decode()
    assert json.loads(first.content) == {"paymentKey": KEY, "orderId": ORDER, "amount": 10000}
    key = first.headers["Idempotency-Key"]
    assert (
        key == again.headers["Idempotency-Key"] == idempotency_key("confirm", KEY, ORDER, "10000")
    )
    assert len(key) <= 300
    assert outcome == Approved(
        KEY, ORDER, 10000, "card", datetime(2026, 3, 1, 12, 0, 5, tzinfo=KST), "KRW"
    )


def test_idempotency_keys_differ_by_operation_and_request() -> None:
    keys = {
        idempotency_key("confirm", KEY, ORDER, "10000"),
        idempotency_key("confirm", KEY, ORDER, "9000"),
        idempotency_key("cancel", KEY, "all", "r"),
        idempotency_key("cancel", KEY, "3000", "r"),
        idempotency_key("cancel", KEY, "3000", "r2"),
    }
    assert len(keys) == 5


# -- 200 Payment by status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("카드", "card"),
        ("간편결제", "card"),
        ("계좌이체", "transfer"),
        ("휴대폰", "mobile"),
        ("문화상품권", "gift"),
        ("도서문화상품권", "gift"),
        ("게임문화상품권", "gift"),
    ],
)
def test_toss_methods_map_onto_ours(name: str, method: str) -> None:
    outcome = gateway(answer(200, payment(method=name))).query(payment_key=KEY)
    assert isinstance(outcome, Approved)
    assert outcome.method == method


def test_waiting_for_deposit() -> None:
    outcome = gateway(answer(200, virtual_account())).confirm(KEY, ORDER, 10000)
    assert outcome == WaitingForDeposit(
        KEY, ORDER, 10000, "X6505636518308", "20", datetime(2026, 3, 8, 12, 0, 5, tzinfo=KST)
    )


@pytest.mark.parametrize("status", ["READY", "IN_PROGRESS"])
def test_ready_and_in_progress_are_pending(status: str) -> None:
    body = payment(status, approvedAt=None, method=None if status == "READY" else "카드")
    assert gateway(answer(200, body)).query(payment_key=KEY) == Pending(KEY, ORDER, status)


@pytest.mark.parametrize(("status", "partial"), [("CANCELED", False), ("PARTIAL_CANCELED", True)])
def test_cancelled_payments(status: str, partial: bool) -> None:
    cancels = [cancel_entry(3000, "TX1", 7000)] + ([] if partial else [cancel_entry(7000, "TX2")])
    body = payment(status, balanceAmount=7000 if partial else 0, cancels=cancels)
    outcome = gateway(answer(200, body)).query(order_id=ORDER)
    assert isinstance(outcome, PaymentCancelled)
    assert (outcome.partial, outcome.method) == (partial, "card")
    assert (outcome.total_amount, outcome.balance_amount) == (10000, 7000 if partial else 0)
    first = outcome.cancels[0]
    assert (first.amount, first.transaction_key, first.reason) == (3000, "TX1", "고객 요청")


def test_aborted_is_declined_with_the_failure_code() -> None:
    failure = error("REJECT_CARD_COMPANY", "결제 승인이 거절되었습니다.")
    body = payment("ABORTED", approvedAt=None, failure=failure)
    outcome = gateway(answer(200, body)).query(payment_key=KEY)
    assert outcome == Declined("REJECT_CARD_COMPANY", "결제 승인이 거절되었습니다.")


def test_expired_is_declined() -> None:
    # The shape of an expired payment posted on Toss's developer forum.
    body = payment("EXPIRED", approvedAt=None, method=None, card=None, failure=None)
    outcome = gateway(answer(200, body)).query(payment_key=KEY)
    assert isinstance(outcome, Declined)
    assert outcome.code == "EXPIRED"


def test_an_unexpected_status_is_unknown() -> None:
    assert isinstance(gateway(answer(200, payment("ON_HOLD"))).query(payment_key=KEY), Unknown)


# -- broken or surprising 2xx replies ------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(raw(200, b"<html>oops</html>"), id="not-json"),
        pytest.param(raw(200, b""), id="empty"),
        pytest.param(raw(200, b'{"paymentKey": '), id="truncated"),
        pytest.param(answer(200, [payment()]), id="not-an-object"),
        pytest.param(answer(200, payment(totalAmount=10000.0)), id="float-amount"),
        pytest.param(answer(200, payment(totalAmount="10000")), id="string-amount"),
        pytest.param(answer(200, payment(totalAmount=True)), id="bool-amount"),
        pytest.param(answer(200, payment(paymentKey=None)), id="no-key"),
        pytest.param(answer(200, payment(method="포인트")), id="unknown-method"),
        pytest.param(answer(200, payment(method="")), id="empty-method"),
        pytest.param(answer(200, payment(approvedAt="yesterday")), id="bad-time"),
        pytest.param(answer(200, payment(approvedAt="2026-03-01T12:00:05")), id="naive-time"),
        pytest.param(answer(200, payment("WAITING_FOR_DEPOSIT")), id="no-virtual-account"),
        pytest.param(answer(200, payment(paymentKey="other")), id="another-payment"),
        pytest.param(answer(200, payment(orderId="ORDER-OTHER")), id="another-order"),
        pytest.param(answer(200, payment(totalAmount=9000)), id="another-amount"),
    ],
)
def test_a_broken_2xx_confirm_is_unknown(handler: Handler) -> None:
    assert isinstance(gateway(handler).confirm(KEY, ORDER, 10000), Unknown)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_REQUEST"),
        (400, "INVALID_CARD_EXPIRATION"),
        (400, "INVALID_STOPPED_CARD"),
        (400, "BELOW_MINIMUM_AMOUNT"),
        (404, "NOT_FOUND_PAYMENT"),
        (404, "NOT_FOUND_PAYMENT_SESSION"),
        (403, "REJECT_CARD_PAYMENT"),
        (403, "REJECT_CARD_COMPANY"),
        (403, "REJECT_ACCOUNT_PAYMENT"),
        (403, "EXCEED_MAX_ONE_DAY_AMOUNT"),
        (403, "INVALID_PASSWORD"),
    ],
)
def test_a_refusal_is_a_definite_decline(status: int, code: str) -> None:
    outcome = gateway(answer(status, error(code, "왜"))).confirm(KEY, ORDER, 10000)
    assert outcome == Declined(code, "왜")


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(401, error("UNAUTHORIZED_KEY")), id="401"),
        pytest.param(answer(403, error("FORBIDDEN_REQUEST")), id="403-forbidden"),
        pytest.param(answer(403, error("FORBIDDEN_CONSECUTIVE_REQUEST")), id="403-consecutive"),
        pytest.param(answer(403, error("SOMETHING_NEW")), id="403-unlisted-code"),
        pytest.param(answer(400, error("PROVIDER_ERROR")), id="400-provider-error"),
        pytest.param(answer(400, error("INVALID_API_KEY")), id="400-invalid-api-key"),
        pytest.param(answer(408, error("TIMEOUT")), id="408"),
        pytest.param(answer(409, error("IDEMPOTENT_REQUEST_PROCESSING")), id="409"),
        pytest.param(answer(425, error("TOO_EARLY")), id="425"),
        pytest.param(answer(429, error("TOO_MANY_REQUESTS")), id="429"),
        pytest.param(answer(500, error("FAILED_INTERNAL_SYSTEM_PROCESSING")), id="500"),
        pytest.param(answer(500, error("UNKNOWN_PAYMENT_ERROR")), id="500-unknown"),
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
    outcome = gateway(handler).confirm(KEY, ORDER, 10000)
    assert isinstance(outcome, Unknown), outcome
    assert outcome.reason


def test_already_processed_confirm_asks_toss_what_happened() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(
                400, json=error("ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.")
            )
        return httpx.Response(200, json=payment())

    assert isinstance(gateway(handler).confirm(KEY, ORDER, 10000), Approved)
    assert seen == ["POST /v1/payments/confirm", f"GET /v1/payments/{KEY}"]


def test_already_processed_then_a_query_for_another_amount_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json=error("ALREADY_PROCESSED_PAYMENT"))
        return httpx.Response(200, json=payment(totalAmount=9000, balanceAmount=9000))

    assert isinstance(gateway(handler).confirm(KEY, ORDER, 10000), Unknown)


def test_already_processed_then_a_failed_query_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json=error("ALREADY_PROCESSED_PAYMENT"))
        return httpx.Response(500, json=error("FAILED_INTERNAL_SYSTEM_PROCESSING"))

    assert isinstance(gateway(handler).confirm(KEY, ORDER, 10000), Unknown)


# -- query ---------------------------------------------------------------------------------------


def test_query_paths_escape_the_key_and_order_id() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=payment(paymentKey="pk/1", orderId="order 1"))

    gw = gateway(handler)
    gw.query(payment_key="pk/1")
    gw.query(order_id="order 1")
    assert seen == ["/v1/payments/pk%2F1", "/v1/payments/orders/order%201"]
    assert all("Idempotency-Key" not in path for path in seen)


@pytest.mark.parametrize("kwargs", [{}, {"payment_key": KEY, "order_id": ORDER}])
def test_query_needs_exactly_one_reference(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        gateway(answer(200, payment())).query(**kwargs)


# -- cancel --------------------------------------------------------------------------------------


def cancelled(balance: int, *amounts: int) -> dict[str, Any]:
    entries = [cancel_entry(a, f"TX{i}") for i, a in enumerate(amounts, 1)]
    return payment(
        "PARTIAL_CANCELED" if balance else "CANCELED", balanceAmount=balance, cancels=entries
    )


def test_a_partial_cancel_sends_its_idempotency_key_and_reports_the_cancel_just_made() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=cancelled(5000, 2000, 3000))

    outcome = gateway(handler).cancel(KEY, amount=3000, reason="환불 R-7")
    (request,) = seen
    assert request.url.path == f"/v1/payments/{KEY}/cancel"
    assert json.loads(request.content) == {"cancelReason": "환불 R-7", "cancelAmount": 3000}
    assert request.headers["Idempotency-Key"] == idempotency_key("cancel", KEY, "3000", "환불 R-7")
    assert outcome == Cancelled(KEY, 5000, 3000, "TX2", datetime(2026, 3, 1, 13, tzinfo=KST))


def test_a_full_cancel_sends_no_amount() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=cancelled(0, 10000))

    outcome = gateway(handler).cancel(KEY, amount=None, reason="refund")
    assert json.loads(seen[0].content) == {"cancelReason": "refund"}
    assert seen[0].headers["Idempotency-Key"] == idempotency_key("cancel", KEY, "all", "refund")
    assert isinstance(outcome, Cancelled)
    assert (outcome.balance_amount, outcome.cancelled_amount) == (0, 10000)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "NOT_CANCELABLE_AMOUNT"),
        (403, "NOT_CANCELABLE_PAYMENT"),
        (403, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT"),
        (400, "ALREADY_CANCELED_PAYMENT"),
        (400, "INVALID_REFUND_ACCOUNT_INFO"),
        (404, "NOT_FOUND_PAYMENT"),
    ],
)
def test_cancel_refusals_are_declines(status: int, code: str) -> None:
    outcome = gateway(answer(status, error(code))).cancel(KEY, amount=1, reason="r")
    assert outcome == Declined(code, "거절")


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(200, payment("DONE")), id="200-not-cancelled"),
        pytest.param(answer(200, payment("PARTIAL_CANCELED")), id="200-no-cancels"),
        pytest.param(answer(200, cancelled(7000, 2000)), id="200-another-amount"),
        pytest.param(answer(200, cancelled(7000, 3000) | {"paymentKey": "x"}), id="another-key"),
        pytest.param(raw(200, b"{"), id="200-broken"),
        pytest.param(answer(401, error("UNAUTHORIZED_KEY")), id="401"),
        pytest.param(answer(403, error("FORBIDDEN_REQUEST")), id="403-forbidden"),
        pytest.param(answer(409, error("IDEMPOTENT_REQUEST_PROCESSING")), id="409"),
        pytest.param(answer(429, error("TOO_MANY_REQUESTS")), id="429"),
        pytest.param(answer(500, error("FAILED_INTERNAL_SYSTEM_PROCESSING")), id="500"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
        pytest.param(raising(httpx.ConnectError), id="connect"),
    ],
)
def test_cancel_unknowns(handler: Handler) -> None:
    assert isinstance(gateway(handler).cancel(KEY, amount=3000, reason="r"), Unknown)


@pytest.mark.parametrize("amount", [0, -1])
def test_cancel_refuses_a_non_positive_amount_before_sending(amount: int) -> None:
    with pytest.raises(InvalidInput):
        gateway(raising(httpx.ConnectError)).cancel(KEY, amount=amount, reason="r")


# -- checkout ------------------------------------------------------------------------------------


def checkout(**overrides: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "order_id": ORDER,
        "amount": 10000,
        "currency": "KRW",
        "method": "card",
        "order_name": "캐시 10,000원",
        "success_url": "https://coffer.test/ok?charge=1",
        "fail_url": "https://coffer.test/fail",
    }
    return CheckoutRequest(**(fields | overrides))


READY = payment(
    "READY",
    approvedAt=None,
    method=None,
    card=None,
    checkout={"url": f"https://api.tosspayments.com/v1/payments/{KEY}/checkout"},
)


@pytest.mark.parametrize(
    ("method", "toss"),
    [
        ("card", "CARD"),
        ("transfer", "TRANSFER"),
        ("virtual_account", "VIRTUAL_ACCOUNT"),
        ("mobile", "MOBILE_PHONE"),
        ("gift", "CULTURE_GIFT_CERTIFICATE"),
    ],
)
def test_checkout_creates_the_payment_and_returns_its_window(method: str, toss: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=READY)

    url = gateway(handler).checkout_url(checkout(method=method))
    assert url == f"https://api.tosspayments.com/v1/payments/{KEY}/checkout"
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/v1/payments")
    assert json.loads(request.content) == {
        "method": toss,
        "amount": 10000,
        "orderId": ORDER,
        "orderName": "캐시 10,000원",
        "successUrl": "https://coffer.test/ok?charge=1",
        "failUrl": "https://coffer.test/fail",
    }
    expected = idempotency_key("checkout", ORDER, "10000", "KRW", method)
    assert request.headers["Idempotency-Key"] == expected


@pytest.mark.parametrize(
    "overrides",
    [{"amount": 0}, {"amount": 100.0}, {"amount": True}, {"method": "cash"}, {"currency": "USD"}],
)
def test_checkout_refuses_bad_input_before_sending(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        gateway(raising(httpx.ConnectError)).checkout_url(checkout(**overrides))


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(400, error("DUPLICATED_ORDER_ID")), id="refused"),
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(raising(httpx.ConnectError), id="down"),
        pytest.param(answer(200, READY | {"checkout": None}), id="no-window"),
        pytest.param(answer(200, READY | {"checkout": {"url": "javascript:x"}}), id="bad-url"),
        pytest.param(answer(200, READY | {"status": "DONE"}), id="not-ready"),
    ],
)
def test_a_failed_checkout_raises_gateway_unavailable(handler: Handler) -> None:
    with pytest.raises(GatewayUnavailable):
        gateway(handler).checkout_url(checkout())


def test_parse_return() -> None:
    params = {"paymentType": "NORMAL", "orderId": ORDER, "paymentKey": KEY, "amount": "10000"}
    assert gateway(answer(200, {})).parse_return(params) == ReturnParams(KEY, ORDER, 10000)
    with pytest.raises(InvalidReturn):
        gateway(answer(200, {})).parse_return(params | {"amount": "10000.0"})


# -- settlement ----------------------------------------------------------------------------------


def settlement_line(**overrides: Any) -> dict[str, Any]:
    """A Settlement object, numbers from the example in Toss's settlements guide."""
    line = {
        "mId": "tosspayments",
        "paymentKey": KEY,
        "transactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
        "orderId": ORDER,
        "currency": "KRW",
        "method": "카드",
        "amount": 34000,
        "interestFee": 0,
        "fees": [{"type": "BASE", "fee": 800}, {"type": "INSTALLMENT", "fee": 60}],
        "supplyAmount": 782,
        "vat": 78,
        "payOutAmount": 33140,
        "approvedAt": "2026-03-01T12:00:05+09:00",
        "soldDate": "2026-03-01",
        "paidOutDate": "2026-03-03",
        "card": None,
        "cancel": None,
    }
    return line | overrides


CANCEL_LINE = settlement_line(
    amount=-3000, payOutAmount=-2925, cancel=cancel_entry(3000, "TXC"), supplyAmount=-68, vat=-7
)


def test_settlement_lines_with_fees_and_a_negative_cancel() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[settlement_line(), CANCEL_LINE])

    lines = gateway(handler).settlement(date(2026, 3, 1))
    assert dict(seen[0].url.params) == {
        "startDate": "2026-03-01",
        "endDate": "2026-03-01",
        "page": "1",
        "size": "5000",
    }
    assert [(x.kind, x.amount, x.fee, x.payout, x.method) for x in lines] == [
        ("payment", 34000, 860, 33140, "card"),
        ("cancel", -3000, -75, -2925, "card"),
    ]
    assert lines[1].transacted_at == datetime(2026, 3, 1, 13, tzinfo=KST)


def test_a_cancel_line_with_positive_numbers_is_made_negative() -> None:
    line = CANCEL_LINE | {"amount": 3000, "payOutAmount": 2925}
    (cancel,) = gateway(answer(200, [line])).settlement(date(2026, 3, 1))
    assert (cancel.amount, cancel.fee, cancel.payout) == (-3000, -75, -2925)


def test_settlement_reads_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("coffer.payments.gateways.toss.SETTLEMENT_PAGE_SIZE", 2)
    pages = {"1": [settlement_line(), settlement_line()], "2": [CANCEL_LINE]}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params["page"]
        seen.append(page)
        return httpx.Response(200, json=pages.get(page, []))

    assert len(gateway(handler).settlement(date(2026, 3, 1))) == 3
    assert seen == ["1", "2"]


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(200, [settlement_line(method="포인트")]), id="unknown-method"),
        pytest.param(answer(200, [settlement_line(payOutAmount=331.4)]), id="float-payout"),
        pytest.param(answer(200, [CANCEL_LINE | {"payOutAmount": 2925}]), id="mixed-signs"),
        pytest.param(answer(200, [settlement_line(amount=-1)]), id="negative-payment"),
        pytest.param(answer(200, [settlement_line(cancel={"x": 1})]), id="broken-cancel"),
        pytest.param(answer(200, {"lines": []}), id="not-a-list"),
        pytest.param(answer(400, error("INVALID_REQUEST")), id="400"),
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(raising(httpx.ReadTimeout), id="timeout"),
    ],
)
def test_unreadable_settlement_raises(handler: Handler) -> None:
    with pytest.raises(GatewayUnavailable):
        gateway(handler).settlement(date(2026, 3, 1))


# -- webhooks ------------------------------------------------------------------------------------


def status_changed(**data: Any) -> bytes:
    event = {
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": "2026-03-01T12:00:06.123456",
        "data": payment() | data,
    }
    return json.dumps(event, ensure_ascii=False).encode()


DEPOSIT = {
    "createdAt": "2026-03-01T12:30:00.000000",
    "secret": "ps_Z1aOwX7K8mYwdqEqQ8yj8yQxzvNP",
    "status": "DONE",
    "transactionKey": "9FF15E1A29D0E77C218F57262BFA4986",
    "orderId": ORDER,
}
DEPOSITED = virtual_account(status="DONE", approvedAt="2026-03-01T12:30:00+09:00")


def queried(body: Any, status: int = 200) -> tuple[Handler, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.raw_path.decode()}")
        return httpx.Response(status, json=body)

    return handler, seen


def test_status_changed_reports_the_queried_state_not_the_body() -> None:
    handler, seen = queried(payment("READY", approvedAt=None, method=None))
    event = gateway(handler).verify_webhook({}, status_changed(status="DONE"), NOW)
    assert seen == [f"GET /v1/payments/{KEY}"]
    assert event.payment == Pending(KEY, ORDER, "READY")
    assert (event.event_type, event.order_id, event.payment_key) == (
        "PAYMENT_STATUS_CHANGED",
        ORDER,
        KEY,
    )
    assert event.created_at == datetime(2026, 3, 1, 12, 0, 6, 123456, tzinfo=KST)


def test_the_event_id_is_stable_across_redeliveries_and_names_the_verified_state() -> None:
    gw = gateway(queried(payment())[0])
    first = gw.verify_webhook(
        {"tosspayments-webhook-transmission-retried-count": "0"}, status_changed(), NOW
    )
    again = gw.verify_webhook(
        {"tosspayments-webhook-transmission-retried-count": "1"},
        json.dumps(json.loads(status_changed()), indent=2).encode(),
        NOW + timedelta(days=3),
    )
    assert first.event_id == again.event_id
    assert first.event_id.startswith("toss_")
    moved_on = gateway(queried(cancelled(0, 10000))[0]).verify_webhook({}, status_changed(), NOW)
    assert moved_on.event_id != first.event_id
    other = gw.verify_webhook({}, status_changed().replace(b".123456", b".123457"), NOW)
    assert other.event_id != first.event_id


@pytest.mark.parametrize(
    ("body", "reply", "status"),
    [
        pytest.param(b"not json", payment(), 200, id="not-json"),
        pytest.param(b"[]", payment(), 200, id="not-an-object"),
        pytest.param(status_changed(paymentKey=None), payment(), 200, id="no-payment-key"),
        pytest.param(status_changed(), error("NOT_FOUND_PAYMENT"), 404, id="unknown-payment"),
        pytest.param(status_changed(orderId="ORDER-X"), payment(), 200, id="order-mismatch"),
        pytest.param(
            status_changed(), payment(paymentKey="other"), 200, id="another-payment-answered"
        ),
        pytest.param(
            status_changed().replace(b"2026-03-01T12:00:06.123456", b"soon"),
            payment(),
            200,
            id="bad-created-at",
        ),
        pytest.param(
            json.dumps({"eventType": "METHOD_UPDATED", "data": {}}).encode(),
            payment(),
            200,
            id="other-event",
        ),
    ],
)
def test_unverifiable_status_changes_are_refused(body: bytes, reply: Any, status: int) -> None:
    with pytest.raises(InvalidWebhook):
        gateway(queried(reply, status)[0]).verify_webhook({}, body, NOW)


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(503, error("SERVICE_UNAVAILABLE")), id="503"),
        pytest.param(answer(401, error("UNAUTHORIZED_KEY")), id="401"),
        pytest.param(raising(httpx.ConnectError), id="down"),
        pytest.param(raw(200, b"{"), id="broken"),
    ],
)
def test_a_webhook_toss_cannot_confirm_now_is_gateway_unavailable(handler: Handler) -> None:
    with pytest.raises(GatewayUnavailable):
        gateway(handler).verify_webhook({}, status_changed(), NOW)


def test_deposit_callback_is_verified_against_the_queried_secret() -> None:
    handler, seen = queried(DEPOSITED)
    event = gateway(handler).verify_webhook({}, json.dumps(DEPOSIT).encode(), NOW)
    assert seen == [f"GET /v1/payments/orders/{ORDER}"]
    assert event.event_type == "DEPOSIT_CALLBACK"
    assert isinstance(event.payment, Approved)
    assert event.payment.method == "virtual_account"
    assert event.created_at == datetime(2026, 3, 1, 12, 30, tzinfo=KST)


def test_a_deposit_callback_wrapped_in_an_event_envelope_is_read_too() -> None:
    body = {"eventType": "DEPOSIT_CALLBACK", "createdAt": DEPOSIT["createdAt"], "data": DEPOSIT}
    event = gateway(queried(DEPOSITED)[0]).verify_webhook({}, json.dumps(body).encode(), NOW)
    assert isinstance(event.payment, Approved)


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        pytest.param(DEPOSIT | {"secret": "ps_forged"}, DEPOSITED, id="wrong-secret"),
        pytest.param(DEPOSIT | {"secret": ""}, DEPOSITED, id="empty-secret"),
        pytest.param(DEPOSIT, payment(), id="payment-without-secret"),
        pytest.param(
            {k: v for k, v in DEPOSIT.items() if k != "orderId"}, DEPOSITED, id="no-order"
        ),
    ],
)
def test_forged_deposit_callbacks_are_refused(body: dict[str, Any], reply: Any) -> None:
    with pytest.raises(InvalidWebhook):
        gateway(queried(reply)[0]).verify_webhook({}, json.dumps(body).encode(), NOW)


def sign(body: bytes, sent: str, key: str = SECURITY_KEY) -> str:
    digest = hmac.new(key.encode(), body + b":" + sent.encode(), hashlib.sha256).digest()
    return "v1:" + base64.b64encode(digest).decode()


SENT = "2026-03-01T12:00:08+09:00"  # two seconds before NOW


def signed(body: bytes, signature: str, sent: str = SENT) -> dict[str, str]:
    return {
        "tosspayments-webhook-signature": signature,
        "tosspayments-webhook-transmission-time": sent,
    }


def test_a_signed_webhook_is_verified_on_the_raw_bytes_then_queried() -> None:
    body = status_changed()
    rotating = sign(body, SENT, "old_key") + "," + sign(body, SENT)
    event = gateway(queried(payment())[0]).verify_webhook(signed(body, rotating), body, NOW)
    assert isinstance(event.payment, Approved)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(
            signed(status_changed(), sign(status_changed(), SENT, "x")),
            status_changed(),
            id="forged",
        ),
        pytest.param(
            signed(status_changed(), sign(status_changed(), SENT)),
            json.dumps(json.loads(status_changed())).encode(),
            id="re-serialised",
        ),
        pytest.param(
            signed(
                status_changed(),
                sign(status_changed(), "2026-03-01T11:54:00+09:00"),
                "2026-03-01T11:54:00+09:00",
            ),
            status_changed(),
            id="stale",
        ),
        pytest.param(
            signed(
                status_changed(),
                sign(status_changed(), "2026-03-01T12:06:00+09:00"),
                "2026-03-01T12:06:00+09:00",
            ),
            status_changed(),
            id="from-the-future",
        ),
        pytest.param(
            {"tosspayments-webhook-signature": sign(status_changed(), SENT)},
            status_changed(),
            id="no-transmission-time",
        ),
        pytest.param(signed(status_changed(), "v1:!!!not-base64"), status_changed(), id="garbage"),
        pytest.param(signed(status_changed(), ""), status_changed(), id="empty"),
        pytest.param(
            signed(status_changed(), sign(status_changed(), SENT).replace("v1:", "v0:")),
            status_changed(),
            id="unknown-scheme",
        ),
    ],
)
def test_a_bad_signature_is_refused_before_anything_is_asked(
    headers: dict[str, str], body: bytes
) -> None:
    handler, seen = queried(payment())
    with pytest.raises(InvalidWebhook):
        gateway(handler).verify_webhook(headers, body, NOW)
    assert seen == []


def test_a_signed_payout_event_is_verified_but_carries_no_payment() -> None:
    body = json.dumps({"eventType": "payout.changed", "createdAt": SENT, "eventId": "e1"}).encode()
    handler, seen = queried(payment())
    with pytest.raises(InvalidWebhook, match="carries no payment"):
        gateway(handler).verify_webhook(signed(body, sign(body, SENT)), body, NOW)
    assert seen == []
