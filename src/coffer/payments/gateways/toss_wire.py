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

from coffer.payments.gateways.outcomes import (
    Approved,
    CancelEntry,
    Cancelled,
    Declined,
    PaymentCancelled,
    PaymentMethod,
    PaymentOutcome,
    Pending,
    SettlementLine,
    Unknown,
    WaitingForDeposit,
)

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


class WireError(ValueError):
    """The reply does not have the documented shape."""


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{what} is not a JSON object")
    return value


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{key!r} is not a non-empty string")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{key!r} is not an integer")
    return value


def _time(obj: dict[str, Any], key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_str(obj, key))
    except ValueError as exc:
        raise WireError(f"{key!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise WireError(f"{key!r} has no UTC offset")
    return moment


def _method(obj: dict[str, Any]) -> PaymentMethod:
    name = _str(obj, "method")
    if name not in METHODS:
        raise WireError(f"unknown payment method {name!r}")
    return METHODS[name]


def _cancel(item: object) -> CancelEntry:
    entry = _obj(item, "a cancel")
    reason = entry.get("cancelReason")
    return CancelEntry(
        amount=_int(entry, "cancelAmount"),
        cancelled_at=_time(entry, "canceledAt"),
        reason=reason if isinstance(reason, str) else "",
        transaction_key=_str(entry, "transactionKey"),
    )


def _cancels(payment: dict[str, Any]) -> tuple[CancelEntry, ...]:
    raw = payment.get("cancels")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WireError("'cancels' is not a list")
    return tuple(_cancel(item) for item in raw)


def _failed(payment: dict[str, Any], status: str) -> Declined:
    """An aborted or expired payment, with Toss's ``failure`` code when it gives one."""
    failure = payment.get("failure")
    if isinstance(failure, dict) and isinstance(failure.get("code"), str) and failure["code"]:
        message = failure.get("message")
        return Declined(failure["code"], message if isinstance(message, str) else status)
    return Declined(code=status, message=f"The payment is {status.lower()} at Toss.")


def payment_outcome(data: object) -> PaymentOutcome:
    """A ``Payment`` object as an outcome, by its ``status``."""
    payment = _obj(data, "the payment")
    key, order_id, status = (_str(payment, k) for k in ("paymentKey", "orderId", "status"))
    if status == "DONE":
        return Approved(
            payment_key=key,
            order_id=order_id,
            amount=_int(payment, "totalAmount"),
            method=_method(payment),
            approved_at=_time(payment, "approvedAt"),
            currency=_str(payment, "currency"),
        )
    if status == "WAITING_FOR_DEPOSIT":
        account = _obj(payment.get("virtualAccount"), "'virtualAccount'")
        return WaitingForDeposit(
            payment_key=key,
            order_id=order_id,
            amount=_int(payment, "totalAmount"),
            account_number=_str(account, "accountNumber"),
            bank_code=_str(account, "bankCode"),
            due_date=_time(account, "dueDate"),
        )
    if status in ("CANCELED", "PARTIAL_CANCELED"):
        return PaymentCancelled(
            payment_key=key,
            order_id=order_id,
            method=_method(payment),
            total_amount=_int(payment, "totalAmount"),
            balance_amount=_int(payment, "balanceAmount"),
            partial=status == "PARTIAL_CANCELED",
            cancels=_cancels(payment),
        )
    if status in ("READY", "IN_PROGRESS"):
        return Pending(payment_key=key, order_id=order_id, status=status)
    if status in ("ABORTED", "EXPIRED"):
        return _failed(payment, status)
    return Unknown(reason=f"unexpected payment status {status!r}")


def cancel_outcome(data: object) -> Cancelled:
    """The ``Payment`` answered to a cancel: its last ``cancels`` entry is the one just made."""
    payment = _obj(data, "the payment")
    status = _str(payment, "status")
    cancels = _cancels(payment)
    if status not in ("CANCELED", "PARTIAL_CANCELED") or not cancels:
        raise WireError(f"a cancel answered status {status!r} with {len(cancels)} cancels")
    last = cancels[-1]
    return Cancelled(
        payment_key=_str(payment, "paymentKey"),
        balance_amount=_int(payment, "balanceAmount"),
        cancelled_amount=last.amount,
        transaction_key=last.transaction_key,
        cancelled_at=last.cancelled_at,
    )


def checkout_url(data: object) -> str:
    """``checkout.url`` of the ``Payment`` that ``POST /v1/payments`` created."""
    payment = _obj(data, "the payment")
    if _str(payment, "status") != "READY":
        raise WireError(f"a new payment is {payment.get('status')!r}, not 'READY'")
    url = _str(_obj(payment.get("checkout"), "'checkout'"), "url")
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
    payment = _obj(data, "the payment")
    last, secret = payment.get("lastTransactionKey"), payment.get("secret")
    return PaymentFacts(
        payment_key=_str(payment, "paymentKey"),
        order_id=_str(payment, "orderId"),
        status=_str(payment, "status"),
        last_transaction_key=last if isinstance(last, str) else "",
        secret=secret if isinstance(secret, str) and secret else None,
    )


def settlement_lines(data: object) -> list[SettlementLine]:
    """``GET /v1/settlements``: a list of ``Settlement`` objects.

    A line with a ``cancel`` object is a cancel: its amount, fee and payout are made negative
    (whichever sign Toss uses, all three must agree). ``fee`` is what Toss keeps,
    ``amount - payOutAmount`` (the ``fees`` breakdown, ``supplyAmount`` and ``vat`` add up to it).
    """
    if not isinstance(data, list):
        raise WireError("the settlement data is not a list")
    lines = []
    for item in data:
        line = _obj(item, "a settlement line")
        amount, payout = _int(line, "amount"), _int(line, "payOutAmount")
        cancel = line.get("cancel")
        if cancel is None:
            kind, sign, at = "payment", 1, _time(line, "approvedAt")
            if amount < 0 or payout < 0:
                raise WireError("a payment line with a negative amount")
        else:
            at = _cancel(cancel).cancelled_at
            kind, sign = "cancel", (-1 if amount > 0 else 1)
            if amount * payout < 0:
                raise WireError("a cancel line whose amount and payout disagree in sign")
        lines.append(
            SettlementLine(
                payment_key=_str(line, "paymentKey"),
                order_id=_str(line, "orderId"),
                method=_method(line),
                kind="payment" if kind == "payment" else "cancel",
                amount=sign * amount,
                fee=sign * (amount - payout),
                payout=sign * payout,
                transacted_at=at,
            )
        )
    return lines


def event_time(text: object) -> datetime:
    """A webhook's ``createdAt``: ISO 8601, read as Korea time when it has no offset."""
    if not isinstance(text, str) or not text:
        raise WireError("'createdAt' is not a non-empty string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireError("'createdAt' is not an ISO 8601 time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=KST)


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
