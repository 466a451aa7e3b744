"""Reading the sandbox PG's JSON (Toss-Payments-like v1) into typed outcomes.

Every reader raises :class:`WireError` on a reply it cannot read with certainty; the HTTP adapter
turns that into :class:`Unknown` (never into a decline). Amounts must be JSON integers: a float, a
string or a bool is a broken reply, never something to round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coffer.payments.gateways.outcomes import (
    Approved,
    CancelEntry,
    Cancelled,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    SettlementKind,
    SettlementLine,
    Unknown,
    WaitingForDeposit,
    WebhookEvent,
)


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
    text = _str(obj, key)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireError(f"{key!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise WireError(f"{key!r} has no UTC offset")
    return moment


def _cancels(payment: dict[str, Any]) -> tuple[CancelEntry, ...]:
    raw = payment.get("cancels")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WireError("'cancels' is not a list")
    entries = []
    for item in raw:
        entry = _obj(item, "a cancel")
        reason = entry.get("cancelReason")
        entries.append(
            CancelEntry(
                amount=_int(entry, "cancelAmount"),
                cancelled_at=_time(entry, "canceledAt"),
                reason=reason if isinstance(reason, str) else "",
                transaction_key=_str(entry, "transactionKey"),
            )
        )
    return tuple(entries)


def _failed(payment: dict[str, Any], status: str) -> Declined:
    """An aborted or expired payment, with the PG's ``failure`` code when it gives one."""
    failure = payment.get("failure")
    if isinstance(failure, dict) and isinstance(failure.get("code"), str) and failure["code"]:
        message = failure.get("message")
        return Declined(failure["code"], message if isinstance(message, str) else status)
    return Declined(code=status, message=f"The payment is {status.lower()} at the PG.")


def payment_outcome(data: object) -> PaymentOutcome:
    """A ``Payment`` object as an outcome, by its ``status``."""
    payment = _obj(data, "the payment")
    key, order_id, status = (_str(payment, k) for k in ("paymentKey", "orderId", "status"))
    if status == "DONE":
        return Approved(
            payment_key=key,
            order_id=order_id,
            amount=_int(payment, "totalAmount"),
            method=_str(payment, "method"),
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
            method=_str(payment, "method"),
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
    """The ``Payment`` answered to a cancel: its last cancel is the one just made."""
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


def error_body(data: object) -> tuple[str, str]:
    """``(code, message)`` of an error reply ``{"code", "message"}``."""
    error = _obj(data, "the error")
    message = error.get("message")
    return _str(error, "code"), message if isinstance(message, str) else ""


_KINDS: dict[str, SettlementKind] = {"PAYMENT": "payment", "CANCEL": "cancel"}


def settlement_lines(data: object) -> list[SettlementLine]:
    if not isinstance(data, list):
        raise WireError("the settlement data is not a list")
    lines = []
    for item in data:
        line = _obj(item, "a settlement line")
        kind = _KINDS.get(_str(line, "type"))
        if kind is None:
            raise WireError(f"unknown settlement line type {line.get('type')!r}")
        lines.append(
            SettlementLine(
                payment_key=_str(line, "paymentKey"),
                order_id=_str(line, "orderId"),
                method=_str(line, "method"),
                kind=kind,
                amount=_int(line, "amount"),
                fee=_int(line, "fee"),
                payout=_int(line, "payOutAmount"),
                transacted_at=_time(line, "transactedAt"),
            )
        )
    return lines


def webhook_event(data: object) -> WebhookEvent:
    event = _obj(data, "the event")
    payment = _obj(event.get("data"), "the event's data")
    return WebhookEvent(
        event_id=_str(event, "eventId"),
        event_type=_str(event, "eventType"),
        created_at=_time(event, "createdAt"),
        payment=payment_outcome(payment),
        order_id=_str(payment, "orderId"),
        payment_key=_str(payment, "paymentKey"),
    )
