"""Reading Toss Payments' core API v1 JSON (``Payment``, ``Cancel``, ``Settlement``, webhooks).

Every reader raises :class:`WireError` on a reply it cannot read with certainty; the adapter turns
that into :class:`Unknown` (never a decline). Amounts must be JSON integers; times must carry an
offset (Toss sends ``+09:00``), except a webhook's ``createdAt`` which Toss documents without one
(``yyyy-MM-dd'T'HH:mm:ss.SSSSSS``) and which is read as Korea time (UTC+9, no daylight saving).

Field names follow https://docs.tosspayments.com/reference (Payment and Settlement objects),
https://docs.tosspayments.com/reference/using-api/webhook-events and
https://docs.tosspayments.com/guides/apis/settlements.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from coffer.payments.gateways import toss_payment
from coffer.payments.gateways.json_fields import WireError as WireError
from coffer.payments.gateways.json_fields import (
    integer,
    iso_time,
    json_object,
    objects,
    string,
    text,
)
from coffer.payments.gateways.outcomes import PaymentMethod, PaymentOutcome, SettlementLine
from coffer.payments.gateways.toss_payment import cancel_outcome as cancel_outcome

KST = timezone(timedelta(hours=9), "KST")

#: ``Payment.method`` (Korean, API version 2022-11-16) → our method. 간편결제 (easy pay: Toss Pay,
#: Naver Pay, ...) is opened by ``CARD`` and settles like a card.
METHODS: dict[str, PaymentMethod] = {
    "카드": "card",
    "간편결제": "card",
    "계좌이체": "transfer",
    "가상계좌": "virtual_account",
    "휴대폰": "mobile",
    "문화상품권": "gift",
    "도서문화상품권": "gift",
    "게임문화상품권": "gift",
}
#: Our method → the ``method`` of ``POST /v1/payments``; a gift is a 문화상품권 (culture voucher).
REQUEST_METHODS: dict[PaymentMethod, str] = {
    "card": "CARD",
    "transfer": "TRANSFER",
    "virtual_account": "VIRTUAL_ACCOUNT",
    "mobile": "MOBILE_PHONE",
    "gift": "CULTURE_GIFT_CERTIFICATE",
}


def _method(obj: dict[str, Any]) -> PaymentMethod:
    name = string(obj, "method")
    if name not in METHODS:
        raise WireError(f"unknown payment method {name!r}")
    return METHODS[name]


#: Toss's way of writing the shared ``Payment`` object: Korean ``method`` names.
TOSS = toss_payment.Dialect(where="Toss", method=_method)


def payment_outcome(data: object) -> PaymentOutcome:
    """A ``Payment`` object as an outcome, by its ``status`` (see ``toss_payment``)."""
    return toss_payment.payment_outcome(data, TOSS)


def checkout_url(data: object) -> str:
    """``checkout.url`` of the ``Payment`` that ``POST /v1/payments`` created."""
    payment = json_object(data, "the payment")
    if string(payment, "status") != "READY":
        raise WireError(f"a new payment is {payment.get('status')!r}, not 'READY'")
    url = string(json_object(payment.get("checkout"), "'checkout'"), "url")
    if not url.startswith(("https://", "http://")):
        raise WireError("'checkout.url' is not an http(s) URL")
    return url


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """What webhook verification needs from a queried ``Payment``."""

    payment_key: str
    order_id: str
    status: str
    last_transaction_key: str
    secret: str | None  # set on virtual-account payments; DEPOSIT_CALLBACK carries it back


def payment_facts(data: object) -> PaymentFacts:
    payment = json_object(data, "the payment")
    secret = payment.get("secret")
    return PaymentFacts(
        payment_key=string(payment, "paymentKey"),
        order_id=string(payment, "orderId"),
        status=string(payment, "status"),
        last_transaction_key=text(payment, "lastTransactionKey"),
        secret=secret if isinstance(secret, str) and secret else None,
    )


def settlement_lines(data: object) -> list[SettlementLine]:
    """``GET /v1/settlements``: a list of ``Settlement`` objects.

    A line with a ``cancel`` object is a cancel: its amount, fee and payout are made negative
    (whichever sign Toss uses, all three must agree). ``fee`` is what Toss keeps,
    ``amount - payOutAmount`` (the ``fees`` breakdown, ``supplyAmount`` and ``vat`` add up to it).
    """
    lines = []
    for line in objects(data, "the settlement data", "a settlement line"):
        amount, payout = integer(line, "amount"), integer(line, "payOutAmount")
        cancel = line.get("cancel")
        if cancel is None:
            kind, sign, at = "payment", 1, iso_time(line, "approvedAt")
            if amount < 0 or payout < 0:
                raise WireError("a payment line with a negative amount")
        else:
            at = toss_payment.cancel_entry(cancel).cancelled_at
            kind, sign = "cancel", (-1 if amount > 0 else 1)
            if amount * payout < 0:
                raise WireError("a cancel line whose amount and payout disagree in sign")
        lines.append(
            SettlementLine(
                payment_key=string(line, "paymentKey"),
                order_id=string(line, "orderId"),
                method=_method(line),
                kind="payment" if kind == "payment" else "cancel",
                amount=sign * amount,
                fee=sign * (amount - payout),
                payout=sign * payout,
                transacted_at=at,
            )
        )
    return lines


def event_time(value: object) -> datetime:
    """A webhook's ``createdAt``: ISO 8601, read as Korea time when it has no offset."""
    return iso_time({"createdAt": value}, "createdAt", naive_zone=KST)


def signature_problem(
    secret: str,
    signature: str,
    transmission_time: str | None,
    body: bytes,
    now: datetime,
    tolerance: float,
) -> str | None:
    """Why ``tosspayments-webhook-signature`` does not sign ``body``, or None if it does.

    Toss signs ``{body}:{tosspayments-webhook-transmission-time}`` with HMAC-SHA256 under the
    merchant's security key and sends ``v1:<base64>`` values separated by commas (two while a key
    is rotated); one must match. Every candidate is compared in constant time.
    """
    if not transmission_time:
        return "The signature has no tosspayments-webhook-transmission-time."
    try:
        sent = datetime.fromisoformat(transmission_time)
    except ValueError:
        return "The transmission time is not an ISO 8601 time."
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=KST)
    if abs((now - sent).total_seconds()) > tolerance:
        return "The signature is stale."
    expected = hmac.new(
        secret.encode(), body + b":" + transmission_time.encode(), hashlib.sha256
    ).digest()
    matched = False
    for part in signature.split(","):
        scheme, sep, value = part.strip().partition(":")
        if not sep or scheme != "v1":
            continue
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= hmac.compare_digest(expected, candidate)
    return None if matched else "The signature does not match."
