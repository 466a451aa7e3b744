"""Settlement lines, fees per method and the CSV file."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from coffer.sandbox_pg.model import Method, fee_for
from tests.sandbox_pg.conftest import Sandbox


def _pay(sandbox: Sandbox, order: str, amount: int, method: str, form: dict[str, str]) -> str:
    key = sandbox.paid_key(order, amount, method=method, form=form)
    assert sandbox.confirm(key, order, amount).status_code == 200
    return key


def test_fee_rule_rounds_half_up_with_the_sign() -> None:
    assert fee_for(Method.CARD, "PAYMENT", 10_000) == 250
    assert fee_for(Method.CARD, "PAYMENT", 1_020) == 26  # 25.5 → 26
    assert fee_for(Method.CARD, "PAYMENT", 1_019) == 25  # 25.475 → 25
    assert fee_for(Method.CARD, "CANCEL", -1_020) == -26
    assert fee_for(Method.TRANSFER, "PAYMENT", 10_000) == 180
    assert fee_for(Method.MOBILE, "PAYMENT", 10_000) == 350
    assert fee_for(Method.GIFT, "PAYMENT", 10_000) == 500
    assert fee_for(Method.VIRTUAL_ACCOUNT, "PAYMENT", 10_000) == 300
    assert fee_for(Method.VIRTUAL_ACCOUNT, "CANCEL", -10_000) == 0


def test_settlement_lines_and_csv(sandbox: Sandbox) -> None:
    card = _pay(
        sandbox, "SET-0001", 10_000, "card", {"card_number": "4242424242424242", "expiry": "12/30"}
    )
    _pay(sandbox, "SET-0002", 20_000, "transfer", {"bank_code": "04"})
    _pay(
        sandbox,
        "SET-0003",
        3_000,
        "mobile",
        {"phone": "01012345678", "step": "otp", "otp": "000000"},
    )
    _pay(sandbox, "SET-0004", 5_000, "gift", {"pin": "1111-2222-3333-4444"})
    va = _pay(sandbox, "SET-0005", 40_000, "virtual_account", {"bank_code": "20"})
    sandbox.clock.advance(timedelta(hours=1))
    assert sandbox.admin("POST", f"/admin/virtual-accounts/{va}/deposit").status_code == 200
    sandbox.s2s(
        "POST", f"/v1/payments/{card}/cancel", json={"cancelReason": "x", "cancelAmount": 1_020}
    )
    sandbox.clock.advance(timedelta(days=1))
    sandbox.s2s("POST", f"/v1/payments/{card}/cancel", json={"cancelReason": "rest"})

    day1 = sandbox.s2s("GET", "/v1/settlements", params={"date": "2026-03-01"})
    assert day1.status_code == 200, day1.text
    got = [
        (x["orderId"], x["method"], x["type"], x["amount"], x["fee"], x["payOutAmount"])
        for x in day1.json()
    ]
    assert got == [
        ("SET-0001", "card", "PAYMENT", 10_000, 250, 9_750),
        ("SET-0002", "transfer", "PAYMENT", 20_000, 360, 19_640),
        ("SET-0003", "mobile", "PAYMENT", 3_000, 105, 2_895),
        ("SET-0004", "gift", "PAYMENT", 5_000, 250, 4_750),
        ("SET-0005", "virtual_account", "PAYMENT", 40_000, 300, 39_700),
        ("SET-0001", "card", "CANCEL", -1_020, -26, -994),
    ]
    assert day1.json()[0]["transactedAt"] == "2026-03-01T09:00:00+09:00"
    day2 = sandbox.s2s("GET", "/v1/settlements", params={"date": "2026-03-02"}).json()
    assert [(x["type"], x["amount"], x["fee"]) for x in day2] == [("CANCEL", -8_980, -225)]

    csv_reply = sandbox.s2s("GET", "/v1/settlements/2026-03-01.csv")
    assert csv_reply.status_code == 200
    assert csv_reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_reply.text)))
    assert rows[0] == [
        "paymentKey",
        "orderId",
        "method",
        "type",
        "amount",
        "fee",
        "payOutAmount",
        "transactedAt",
    ]
    assert [[r[1], r[4], r[5], r[6]] for r in rows[1:]] == [
        [o, str(a), str(f), str(p)] for o, _m, _t, a, f, p in got
    ]


def test_settlement_date_is_validated(sandbox: Sandbox) -> None:
    for params in ({"date": "2026-13-01"}, {}):
        response = sandbox.s2s("GET", "/v1/settlements", params=params)
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_DATE"
    assert sandbox.s2s("GET", "/v1/settlements/yesterday.csv").json()["code"] == "INVALID_DATE"
