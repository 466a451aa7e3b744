"""Sandbox PG wire-format samples shared by the gateway tests."""

from __future__ import annotations

from typing import Any

APPROVED_AT = "2026-03-01T12:00:05+09:00"


def payment(status: str = "DONE", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "paymentKey": "pk_1",
        "orderId": "order-1",
        "orderName": "10,000 cash",
        "method": "card",
        "status": status,
        "totalAmount": 10000,
        "balanceAmount": 10000,
        "currency": "KRW",
        "requestedAt": "2026-03-01T12:00:00+09:00",
        "approvedAt": APPROVED_AT,
        "virtualAccount": None,
        "cancels": [],
    }
    body.update(overrides)
    return body


def cancel(amount: int, key: str) -> dict[str, Any]:
    return {
        "cancelAmount": amount,
        "canceledAt": "2026-03-01T13:00:00+09:00",
        "cancelReason": "member asked",
        "transactionKey": key,
    }
