"""Card: approve, confirm, query, partial cancel, cancel the rest; the refusals."""

from __future__ import annotations

from tests.sandbox_pg.conftest import Sandbox, basic


def test_card_approve_confirm_query_and_cancel_in_two_steps(sandbox: Sandbox) -> None:
    path, query = sandbox.checkout("ORDER-0001", 10_000)
    assert path == "/ok"
    assert query["orderId"] == "ORDER-0001"
    assert query["amount"] == "10000"
    assert query["x"] == "1"  # the merchant's own query string is kept
    key = query["paymentKey"]
    ready = sandbox.s2s("GET", f"/v1/payments/{key}").json()
    assert ready["status"] == "READY"
    assert ready["approvedAt"] is None

    confirmed = sandbox.confirm(key, "ORDER-0001", 10_000)
    assert confirmed.status_code == 200, confirmed.text
    payment = confirmed.json()
    assert payment["status"] == "DONE"
    assert payment["method"] == "card"
    assert payment["totalAmount"] == payment["balanceAmount"] == 10_000
    assert payment["approvedAt"] == "2026-03-01T09:00:00+09:00"
    assert payment["virtualAccount"] is None
    assert payment["cancels"] == []

    assert sandbox.s2s("GET", f"/v1/payments/{key}").json() == payment
    assert sandbox.s2s("GET", "/v1/payments/orders/ORDER-0001").json() == payment

    partial = sandbox.s2s(
        "POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "partly", "cancelAmount": 3000}
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["status"] == "PARTIAL_CANCELED"
    assert partial.json()["balanceAmount"] == 7000
    assert [c["cancelAmount"] for c in partial.json()["cancels"]] == [3000]

    too_much = sandbox.s2s(
        "POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "x", "cancelAmount": 7001}
    )
    assert too_much.status_code == 400
    assert too_much.json()["code"] == "INVALID_CANCEL_AMOUNT"

    rest = sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "all"})
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert body["status"] == "CANCELED"
    assert body["balanceAmount"] == 0
    assert [c["cancelAmount"] for c in body["cancels"]] == [3000, 7000]
    assert [c["cancelReason"] for c in body["cancels"]] == ["partly", "all"]
    assert all(c["transactionKey"].startswith("txn_") for c in body["cancels"])

    again = sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "again"})
    assert again.status_code == 400
    assert again.json()["code"] == "NOT_CANCELABLE_PAYMENT"


def test_declined_card_goes_to_fail_url_and_cannot_be_confirmed(sandbox: Sandbox) -> None:
    path, query = sandbox.checkout(
        "ORDER-0002", 5000, form={"card_number": "4000 0000 0000 0002", "expiry": "12/30"}
    )
    assert path == "/fail"
    assert query["code"] == "REJECT_CARD_PAYMENT"
    assert query["orderId"] == "ORDER-0002"
    payment = sandbox.s2s("GET", "/v1/payments/orders/ORDER-0002").json()
    assert payment["status"] == "ABORTED"
    refused = sandbox.confirm(payment["paymentKey"], "ORDER-0002", 5000)
    assert refused.status_code == 400
    assert refused.json()["code"] == "REJECT_CARD_PAYMENT"


def test_amount_or_order_mismatch_is_refused_and_changes_nothing(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("ORDER-0003", 10_000)
    before = sandbox.s2s("GET", f"/v1/payments/{key}").json()
    wrong_amount = sandbox.confirm(key, "ORDER-0003", 1000)
    assert wrong_amount.status_code == 400
    assert wrong_amount.json()["code"] == "INVALID_AMOUNT"
    wrong_order = sandbox.confirm(key, "ORDER-9999", 10_000)
    assert wrong_order.status_code == 400
    assert wrong_order.json()["code"] == "NOT_FOUND_PAYMENT"
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json() == before
    assert sandbox.confirm(key, "ORDER-0003", 10_000).json()["status"] == "DONE"


def test_double_confirm_is_already_processed(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("ORDER-0004", 10_000)
    assert sandbox.confirm(key, "ORDER-0004", 10_000).status_code == 200
    again = sandbox.confirm(key, "ORDER-0004", 10_000)
    assert again.status_code == 400
    assert again.json()["code"] == "ALREADY_PROCESSED_PAYMENT"


def test_wrong_or_missing_secret_key_is_401(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("ORDER-0005", 10_000)
    body = {"paymentKey": key, "orderId": "ORDER-0005", "amount": 10_000}
    for headers in (basic("test_sk_wrong"), {}, {"Authorization": "Basic !!!"}):
        response = sandbox.http.post("/v1/payments/confirm", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED_KEY"
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json()["status"] == "READY"


def test_unknown_payment_is_404(sandbox: Sandbox) -> None:
    assert sandbox.s2s("GET", "/v1/payments/sbx_nothing").json()["code"] == "NOT_FOUND_PAYMENT"
    missing = sandbox.s2s("GET", "/v1/payments/orders/NOPE-0001")
    assert missing.status_code == 404
    assert missing.json() == {"code": "NOT_FOUND_PAYMENT", "message": "no such payment"}


def test_bad_bodies_are_400_json(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("ORDER-0006", 10_000)
    for body in (
        {"paymentKey": key, "orderId": "ORDER-0006", "amount": 10000.0},
        {"paymentKey": key, "orderId": "ORDER-0006", "amount": "10000"},
        {"paymentKey": key, "orderId": "ORDER-0006", "amount": True},
        {"paymentKey": key, "orderId": "ORDER-0006"},
        [1, 2],
    ):
        response = sandbox.s2s("POST", "/v1/payments/confirm", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "INVALID_REQUEST"
    raw = sandbox.s2s("POST", "/v1/payments/confirm", content=b"{not json")
    assert raw.status_code == 400
    assert raw.json()["code"] == "INVALID_REQUEST"


def test_done_order_cannot_be_checked_out_again(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("ORDER-0007", 10_000)
    sandbox.confirm(key, "ORDER-0007", 10_000)
    path, query = sandbox.checkout("ORDER-0007", 10_000)
    assert path == "/fail"
    assert query["code"] == "DUPLICATED_ORDER_ID"


def test_ready_order_checked_out_again_gets_a_new_key(sandbox: Sandbox) -> None:
    first = sandbox.paid_key("ORDER-0008", 10_000)
    second = sandbox.paid_key("ORDER-0008", 10_000)
    assert first != second
    assert sandbox.confirm(first, "ORDER-0008", 10_000).status_code == 404
    assert sandbox.confirm(second, "ORDER-0008", 10_000).json()["status"] == "DONE"


def test_unconfirmed_payment_expires_after_ten_minutes(sandbox: Sandbox) -> None:
    from datetime import timedelta

    key = sandbox.paid_key("ORDER-0009", 10_000)
    sandbox.clock.advance(timedelta(minutes=11))
    response = sandbox.confirm(key, "ORDER-0009", 10_000)
    assert response.json()["code"] == "NOT_FOUND_PAYMENT_SESSION"
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json()["status"] == "EXPIRED"
