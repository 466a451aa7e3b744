"""The Toss-shaped core API v1 that Toss Payments and the sandbox PG both speak.

The sandbox PG deliberately copies Toss's protocol: the same ``Payment`` object, statuses,
``cancels`` and paths. What differs is a :class:`Dialect`: how ``method`` is written (Toss sends
Korean names, mapped in ``toss_wire.METHODS``; the sandbox sends our English method names) and
how the PG is named in a message. Other differences (webhooks, settlement lines, Toss's
``checkout``, idempotency keys) stay in ``toss_wire``/``sandbox_wire`` and the adapters.

Every reader raises :class:`WireError` on a reply it cannot read with certainty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from coffer.kernel.money import parse_amount
from coffer.payments.gateways.json_fields import (
    WireError,
    integer,
    iso_time,
    json_object,
    objects,
    string,
    text,
)
from coffer.payments.gateways.outcomes import (
    Approved,
    CancelEntry,
    Cancelled,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    Unknown,
    WaitingForDeposit,
)

CONFIRM_PATH = "/v1/payments/confirm"
SETTLEMENTS_PATH = "/v1/settlements"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one PG writes its own way in the shared ``Payment`` object."""

    #: The PG in "The payment is aborted at {where}." (a failure without a ``failure`` code).
    where: str
    #: Reads ``method`` of a ``Payment`` (or of a settlement line) as the outcome's method.
    method: Callable[[dict[str, Any]], str]


# -- requests ---------------------------------------------------------------------------------


def payment_path(payment_key: str) -> str:
    return f"/v1/payments/{quote(payment_key, safe='')}"


def order_path(order_id: str) -> str:
    return f"/v1/payments/orders/{quote(order_id, safe='')}"


def query_path(payment_key: str | None, order_id: str | None) -> str:
    """The payment by its key or by its order id (exactly one)."""
    if (payment_key is None) == (order_id is None):
        raise ValueError("query needs exactly one of payment_key and order_id")
    if payment_key is not None:
        return payment_path(payment_key)
    return order_path(order_id or "")


def cancel_path(payment_key: str) -> str:
    return f"{payment_path(payment_key)}/cancel"


def confirm_body(payment_key: str, order_id: str, amount: int) -> dict[str, Any]:
    return {"paymentKey": payment_key, "orderId": order_id, "amount": amount}


def cancel_body(amount: int | None, reason: str) -> dict[str, Any]:
    """``cancelAmount`` only for a partial cancel (``None``: everything left); checked first."""
    body: dict[str, Any] = {"cancelReason": reason}
    if amount is not None:
        body["cancelAmount"] = parse_amount(amount, field="cancelAmount")
    return body


# -- the Payment object -----------------------------------------------------------------------


def cancel_entry(item: object) -> CancelEntry:
    """One ``Cancel`` object (an entry of ``cancels``, or a settlement line's ``cancel``)."""
    entry = json_object(item, "a cancel")
    return CancelEntry(
        amount=integer(entry, "cancelAmount"),
        cancelled_at=iso_time(entry, "canceledAt"),
        reason=text(entry, "cancelReason"),
        transaction_key=string(entry, "transactionKey"),
    )


def cancels(payment: dict[str, Any]) -> tuple[CancelEntry, ...]:
    raw = payment.get("cancels")
    if raw is None:
        return ()
    return tuple(cancel_entry(item) for item in objects(raw, "'cancels'", "a cancel"))


def failed(payment: dict[str, Any], status: str, where: str) -> Declined:
    """An aborted or expired payment, with the PG's ``failure`` code when it gives one."""
    failure = payment.get("failure")
    if isinstance(failure, dict) and isinstance(failure.get("code"), str) and failure["code"]:
        return Declined(failure["code"], text(failure, "message", status))
    return Declined(code=status, message=f"The payment is {status.lower()} at {where}.")


def payment_outcome(data: object, dialect: Dialect) -> PaymentOutcome:
    """A ``Payment`` object as an outcome, by its ``status``."""
    payment = json_object(data, "the payment")
    key, order_id, status = (string(payment, k) for k in ("paymentKey", "orderId", "status"))
    if status == "DONE":
        return Approved(
            payment_key=key,
            order_id=order_id,
            amount=integer(payment, "totalAmount"),
            method=dialect.method(payment),
            approved_at=iso_time(payment, "approvedAt"),
            currency=string(payment, "currency"),
        )
    if status == "WAITING_FOR_DEPOSIT":
        account = json_object(payment.get("virtualAccount"), "'virtualAccount'")
        return WaitingForDeposit(
            payment_key=key,
            order_id=order_id,
            amount=integer(payment, "totalAmount"),
            account_number=string(account, "accountNumber"),
            bank_code=string(account, "bankCode"),
            due_date=iso_time(account, "dueDate"),
        )
    if status in ("CANCELED", "PARTIAL_CANCELED"):
        return PaymentCancelled(
            payment_key=key,
            order_id=order_id,
            method=dialect.method(payment),
            total_amount=integer(payment, "totalAmount"),
            balance_amount=integer(payment, "balanceAmount"),
            partial=status == "PARTIAL_CANCELED",
            cancels=cancels(payment),
        )
    if status in ("READY", "IN_PROGRESS"):
        return Pending(payment_key=key, order_id=order_id, status=status)
    if status in ("ABORTED", "EXPIRED"):
        return failed(payment, status, dialect.where)
    return Unknown(reason=f"unexpected payment status {status!r}")


def cancel_outcome(data: object) -> Cancelled:
    """The ``Payment`` answered to a cancel: its last ``cancels`` entry is the one just made."""
    payment = json_object(data, "the payment")
    status = string(payment, "status")
    made = cancels(payment)
    if status not in ("CANCELED", "PARTIAL_CANCELED") or not made:
        raise WireError(f"a cancel answered status {status!r} with {len(made)} cancels")
    last = made[-1]
    return Cancelled(
        payment_key=string(payment, "paymentKey"),
        balance_amount=integer(payment, "balanceAmount"),
        cancelled_amount=last.amount,
        transaction_key=last.transaction_key,
        cancelled_at=last.cancelled_at,
    )
