"""Checkout input: the query parameters and each method's form, with the test credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.model import BANKS, Method
from coffer.sandbox_pg.payments import Authorisation, Order
from coffer.sandbox_pg.times import KST

MAX_AMOUNT = 100_000_000
ORDER_ID = re.compile(r"[A-Za-z0-9\-_=.]{6,64}")
CARD_DECLINE = "4000000000000002"
BANK_DECLINE = "99"
OTP_APPROVE = "000000"
OTP_DECLINE = "999999"
GIFT_APPROVE = "1111-2222-3333-4444"
GIFT_DECLINE = "9999-9999-9999-9999"


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    client_key: str
    order: Order
    success_url: str
    fail_url: str

    def hidden_fields(self) -> dict[str, str]:
        return {
            "client_key": self.client_key,
            "order_id": self.order.order_id,
            "order_name": self.order.order_name,
            "amount": str(self.order.amount),
            "currency": self.order.currency,
            "method": self.order.method.value,
            "success_url": self.success_url,
            "fail_url": self.fail_url,
        }


class FormProblem(Exception):
    """A mistake the buyer can fix: the page is shown again with the message."""


@dataclass(frozen=True, slots=True)
class NeedsOtp:
    phone: str


def parse_request(params: Mapping[str, str]) -> CheckoutRequest:
    def required(name: str) -> str:
        value = params.get(name, "").strip()
        if not value:
            raise PgError("INVALID_REQUEST", f"{name} is required")
        return value

    client_key = required("client_key")
    order_id = required("order_id")
    if not ORDER_ID.fullmatch(order_id):
        raise PgError("INVALID_REQUEST", "order_id: 6-64 characters of A-Z a-z 0-9 - _ = .")
    raw_amount = required("amount")
    if not raw_amount.isascii() or not raw_amount.isdigit():
        raise PgError("INVALID_REQUEST", "amount must be a positive whole number of won")
    amount = int(raw_amount)
    if not 0 < amount <= MAX_AMOUNT:
        raise PgError("INVALID_REQUEST", f"amount must be between 1 and {MAX_AMOUNT}")
    currency = params.get("currency", "KRW") or "KRW"
    if currency != "KRW":
        raise PgError("INVALID_REQUEST", "only KRW is supported")
    try:
        method = Method(required("method"))
    except ValueError:
        raise PgError(
            "INVALID_REQUEST", "method must be card, transfer, virtual_account, mobile or gift"
        ) from None
    order_name = params.get("order_name", "").strip() or order_id
    if len(order_name) > 200:
        raise PgError("INVALID_REQUEST", "order_name is at most 200 characters")
    return CheckoutRequest(
        client_key=client_key,
        order=Order(order_id, order_name, amount, method, currency),
        success_url=_url(required("success_url"), "success_url"),
        fail_url=_url(required("fail_url"), "fail_url"),
    )


def authorise(method: Method, form: Mapping[str, str], now: datetime) -> Authorisation | NeedsOtp:
    """Check the method's form against the test credentials; FormProblem when it is not right."""
    if method is Method.CARD:
        return _card(form, now)
    if method in (Method.TRANSFER, Method.VIRTUAL_ACCOUNT):
        bank = form.get("bank_code", "")
        if bank not in BANKS:
            raise FormProblem("Choose a bank.")
        if method is Method.TRANSFER and bank == BANK_DECLINE:
            return Authorisation(
                bank_code=bank, failure=("REJECT_ACCOUNT_PAYMENT", "the bank refused the transfer")
            )
        return Authorisation(bank_code=bank)
    if method is Method.MOBILE:
        return _mobile(form)
    return _gift(form)


def _card(form: Mapping[str, str], now: datetime) -> Authorisation:
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not re.fullmatch(r"\d{15,16}", number):
        raise FormProblem("Enter a 15 or 16 digit card number.")
    match = re.fullmatch(r"(\d{2})\s*/\s*(\d{2})", form.get("expiry", "").strip())
    if match is None or not 1 <= int(match.group(1)) <= 12:
        raise FormProblem("Enter the expiry date as MM/YY.")
    month, year = int(match.group(1)), 2000 + int(match.group(2))
    today = now.astimezone(KST)
    if (year, month) < (today.year, today.month):
        raise FormProblem("This card has expired.")
    if number == CARD_DECLINE:
        return Authorisation(
            card_number=number, failure=("REJECT_CARD_PAYMENT", "the card issuer declined")
        )
    return Authorisation(card_number=number)


def _mobile(form: Mapping[str, str]) -> Authorisation | NeedsOtp:
    phone = re.sub(r"[\s-]", "", form.get("phone", ""))
    if not re.fullmatch(r"01\d{8,9}", phone):
        raise FormProblem("Enter a mobile number such as 010-1234-5678.")
    otp = form.get("otp", "").strip()
    if form.get("step") != "otp":
        return NeedsOtp(phone)
    if otp == OTP_DECLINE:
        return Authorisation(failure=("REJECT_MOBILE", "the carrier declined the payment"))
    if otp != OTP_APPROVE:
        raise FormProblem("Wrong code. (Test codes: 000000 approves, 999999 declines.)")
    return Authorisation()


def _gift(form: Mapping[str, str]) -> Authorisation:
    pin = form.get("pin", "").strip()
    if not re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", pin):
        raise FormProblem("Enter the PIN as NNNN-NNNN-NNNN-NNNN.")
    if pin == GIFT_DECLINE:
        return Authorisation(
            failure=("INSUFFICIENT_VOUCHER_BALANCE", "the gift certificate balance is too low")
        )
    if pin != GIFT_APPROVE:
        raise FormProblem("Unknown PIN.")
    return Authorisation()


def _url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PgError("INVALID_REQUEST", f"{name} must be an absolute http(s) URL")
    return value
