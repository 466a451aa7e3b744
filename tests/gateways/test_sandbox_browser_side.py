"""The browser side of the sandbox adapter: the checkout URL and the success return."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from coffer.kernel.errors import InvalidInput
from coffer.payments.gateways import CheckoutRequest, InvalidReturn, ReturnParams
from coffer.payments.gateways.sandbox import SandboxGateway

GATEWAY = SandboxGateway("http://pg.test/", "test_ck", "test_sk", "whsec")


def request(**overrides: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "order_id": "ORDER-1",
        "amount": 10000,
        "currency": "KRW",
        "method": "card",
        "order_name": "Cash 10,000 & more",
        "success_url": "https://coffer.test/ok?charge=1",
        "fail_url": "https://coffer.test/fail",
    }
    fields.update(overrides)
    return CheckoutRequest(**fields)


def test_checkout_url_carries_every_parameter() -> None:
    url = urlsplit(GATEWAY.checkout_url(request()))
    assert (url.scheme, url.netloc, url.path) == ("http", "pg.test", "/checkout")
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == {
        "client_key": "test_ck",
        "order_id": "ORDER-1",
        "amount": "10000",
        "currency": "KRW",
        "method": "card",
        "order_name": "Cash 10,000 & more",
        "success_url": "https://coffer.test/ok?charge=1",
        "fail_url": "https://coffer.test/fail",
    }


@pytest.mark.parametrize(
    "overrides",
    [{"amount": 0}, {"amount": -5}, {"amount": 100.0}, {"amount": True}, {"method": "cash"}],
)
def test_checkout_url_refuses_bad_input(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        GATEWAY.checkout_url(request(**overrides))


def test_parse_return() -> None:
    params = {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "10000", "charge": "1"}
    assert GATEWAY.parse_return(params) == ReturnParams("pk_1", "ORDER-1", 10000)


@pytest.mark.parametrize(
    "params",
    [
        {"orderId": "ORDER-1", "amount": "10000"},
        {"paymentKey": "pk_1", "amount": "10000"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "100.0"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "1e4"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "-1"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "0"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "\u0661\u0660"},
        {"paymentKey": "pk_1", "orderId": "ORDER-1", "amount": "9" * 30},
    ],
)
def test_parse_return_refuses_a_broken_return(params: dict[str, str]) -> None:
    with pytest.raises(InvalidReturn):
        GATEWAY.parse_return(params)
