"""The hosted checkout pages of every method, their test credentials and form mistakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.sandbox_pg.conftest import Sandbox

CHECKOUT = {
    "client_key": "test_ck_coffer_demo",
    "order_id": "PAGE-0001",
    "amount": "10000",
    "order_name": "Cash 10,000",
    "success_url": "https://shop.example/ok",
    "fail_url": "https://shop.example/fail",
}


def test_each_method_page_shows_its_form(sandbox: Sandbox) -> None:
    expected = {
        "card": 'name="card_number"',
        "transfer": 'name="bank_code"',
        "virtual_account": 'name="bank_code"',
        "mobile": 'name="phone"',
        "gift": 'name="pin"',
    }
    for method, field in expected.items():
        page = sandbox.http.get("/checkout", params={**CHECKOUT, "method": method})
        assert page.status_code == 200, page.text
        assert field in page.text
        assert "₩10,000" in page.text


def test_bad_checkout_links_are_400(sandbox: Sandbox) -> None:
    for change, code in (
        ({"client_key": "test_ck_nobody"}, "UNAUTHORIZED_KEY"),
        ({"amount": "10.5"}, "INVALID_REQUEST"),
        ({"amount": "-3"}, "INVALID_REQUEST"),
        ({"method": "bitcoin"}, "INVALID_REQUEST"),
        ({"currency": "USD"}, "INVALID_REQUEST"),
        ({"success_url": "javascript:alert(1)"}, "INVALID_REQUEST"),
        ({"order_id": "x"}, "INVALID_REQUEST"),
    ):
        json_reply = sandbox.http.get("/checkout", params={**CHECKOUT, "method": "card", **change})
        assert 400 <= json_reply.status_code < 500
        assert json_reply.json()["code"] == code
        html = sandbox.http.get(
            "/checkout",
            params={**CHECKOUT, "method": "card", **change},
            headers={"Accept": "text/html"},
        )
        assert 400 <= html.status_code < 500
        assert code in html.text


def test_form_mistakes_rerender_the_page(sandbox: Sandbox) -> None:
    base = {**CHECKOUT, "currency": "KRW"}
    for method, form, message in (
        ("card", {"card_number": "1234", "expiry": "12/30"}, "15 or 16 digit"),
        ("card", {"card_number": "4242424242424242", "expiry": "01/26"}, "expired"),
        ("transfer", {"bank_code": ""}, "Choose a bank"),
        ("mobile", {"phone": "12345"}, "mobile number"),
        ("mobile", {"phone": "010-1234-5678", "step": "otp", "otp": "123456"}, "Wrong code"),
        ("gift", {"pin": "1234-5678-0000-0000"}, "Unknown PIN"),
    ):
        page = sandbox.http.post("/checkout", data={**base, "method": method, **form})
        assert page.status_code == 200, (method, page.text)
        assert message in page.text, method


def test_transfer_approves_and_bank_99_declines(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("TRANS-0001", 20_000, method="transfer", form={"bank_code": "88"})
    assert sandbox.confirm(key, "TRANS-0001", 20_000).json()["status"] == "DONE"
    path, query = sandbox.checkout(
        "TRANS-0002", 20_000, method="transfer", form={"bank_code": "99"}
    )
    assert (path, query["code"]) == ("/fail", "REJECT_ACCOUNT_PAYMENT")


def test_mobile_two_steps(sandbox: Sandbox) -> None:
    fields = {**CHECKOUT, "currency": "KRW", "method": "mobile", "order_id": "MOB-0001"}
    first = sandbox.http.post("/checkout", data={**fields, "step": "phone", "phone": "01012345678"})
    assert first.status_code == 200
    assert 'name="otp"' in first.text
    path, query = sandbox.checkout(
        "MOB-0001",
        10_000,
        method="mobile",
        form={"phone": "01012345678", "step": "otp", "otp": "000000"},
    )
    assert path == "/ok"
    path, query = sandbox.checkout(
        "MOB-0002",
        10_000,
        method="mobile",
        form={"phone": "01012345678", "step": "otp", "otp": "999999"},
    )
    assert (path, query["code"]) == ("/fail", "REJECT_MOBILE")


def test_gift_pins(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("GIFT-0001", 5000, method="gift", form={"pin": "1111-2222-3333-4444"})
    assert sandbox.confirm(key, "GIFT-0001", 5000).json()["status"] == "DONE"
    path, query = sandbox.checkout(
        "GIFT-0002", 5000, method="gift", form={"pin": "9999-9999-9999-9999"}
    )
    assert (path, query["code"]) == ("/fail", "INSUFFICIENT_VOUCHER_BALANCE")


def test_mobile_cancel_only_in_the_same_kst_month(sandbox: Sandbox) -> None:
    otp = {"phone": "01012345678", "step": "otp", "otp": "000000"}
    # 2026-03-31 23:00 KST
    sandbox.clock.set(datetime(2026, 3, 31, 14, tzinfo=UTC))
    same = sandbox.paid_key("MOB-0101", 10_000, method="mobile", form=otp)
    later = sandbox.paid_key("MOB-0102", 10_000, method="mobile", form=otp)
    assert sandbox.confirm(same, "MOB-0101", 10_000).status_code == 200
    assert sandbox.confirm(later, "MOB-0102", 10_000).status_code == 200
    sandbox.clock.advance(timedelta(minutes=30))  # 23:30 KST, still March
    ok = sandbox.s2s("POST", f"/v1/payments/{same}/cancel", json={"cancelReason": "same month"})
    assert ok.status_code == 200, ok.text
    sandbox.clock.advance(timedelta(minutes=40))  # 00:10 KST on April 1st (still March in UTC)
    refused = sandbox.s2s("POST", f"/v1/payments/{later}/cancel", json={"cancelReason": "late"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "NOT_CANCELABLE_PAYMENT"
    assert sandbox.s2s("GET", f"/v1/payments/{later}").json()["status"] == "DONE"


def test_virtual_account_waits_then_cancels_in_full(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("VA-0001", 30_000, method="virtual_account", form={"bank_code": "04"})
    waiting = sandbox.confirm(key, "VA-0001", 30_000).json()
    assert waiting["status"] == "WAITING_FOR_DEPOSIT"
    assert waiting["virtualAccount"]["bankCode"] == "04"
    assert waiting["virtualAccount"]["dueDate"] == "2026-03-08T09:00:00+09:00"
    partial = sandbox.s2s(
        "POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "x", "cancelAmount": 1}
    )
    assert partial.json()["code"] == "INVALID_CANCEL_AMOUNT"
    full = sandbox.s2s("POST", f"/v1/payments/{key}/cancel", json={"cancelReason": "changed mind"})
    assert full.json()["status"] == "CANCELED"
    deposit = sandbox.admin("POST", f"/admin/virtual-accounts/{key}/deposit")
    assert deposit.json()["code"] == "NOT_WAITING_FOR_DEPOSIT"


def test_virtual_account_deposit_after_due_date_expires(sandbox: Sandbox) -> None:
    key = sandbox.paid_key("VA-0002", 30_000, method="virtual_account", form={"bank_code": "04"})
    sandbox.confirm(key, "VA-0002", 30_000)
    sandbox.clock.advance(timedelta(days=8))
    late = sandbox.admin("POST", f"/admin/virtual-accounts/{key}/deposit")
    assert late.status_code == 400
    assert late.json()["code"] == "EXPIRED_VIRTUAL_ACCOUNT"
    assert sandbox.s2s("GET", f"/v1/payments/{key}").json()["status"] == "EXPIRED"
