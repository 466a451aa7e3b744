"""What a payment gateway answered, as typed values (DESIGN section 8).

Amounts are ints in the currency's minor unit. A reply the adapter cannot read with certainty is
always :class:`Unknown`, never :class:`Declined`: an unknown outcome never fails a charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PaymentMethod = Literal["card", "transfer", "virtual_account", "mobile", "gift"]
PAYMENT_METHODS: tuple[PaymentMethod, ...] = (
    "card",
    "transfer",
    "virtual_account",
    "mobile",
    "gift",
)


@dataclass(frozen=True, slots=True)
class Approved:
    """The PG approved the payment: the charge may be credited."""

    payment_key: str
    order_id: str
    amount: int
    method: str
    approved_at: datetime
    currency: str = "KRW"


@dataclass(frozen=True, slots=True)
class WaitingForDeposit:
    """A virtual account was issued; the money arrives later (a webhook or a query tells)."""

    payment_key: str
    order_id: str
    amount: int
    account_number: str
    bank_code: str
    due_date: datetime


@dataclass(frozen=True, slots=True)
class Pending:
    """The PG knows the payment but has not finished it (``READY`` or ``IN_PROGRESS``)."""

    payment_key: str
    order_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Declined:
    """A definite refusal: nothing was approved (or cancelled) by this request."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """The outcome cannot be known from this reply (timeout, 5xx, 429, broken reply, ...).

    The caller must not fail the charge: query the PG later.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class CancelEntry:
    """One cancellation recorded on a payment."""

    amount: int
    cancelled_at: datetime
    reason: str
    transaction_key: str


@dataclass(frozen=True, slots=True)
class PaymentCancelled:
    """A query found the payment fully (``partial=False``) or partly cancelled."""

    payment_key: str
    order_id: str
    method: str
    total_amount: int
    balance_amount: int
    partial: bool
    cancels: tuple[CancelEntry, ...]


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancel request succeeded; ``balance_amount`` is what is left cancellable."""

    payment_key: str
    balance_amount: int
    cancelled_amount: int
    transaction_key: str
    cancelled_at: datetime


PaymentOutcome = Approved | WaitingForDeposit | Pending | PaymentCancelled | Declined | Unknown
CancelOutcome = Cancelled | Declined | Unknown

SettlementKind = Literal["payment", "cancel"]


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One line of a PG's settlement data for a day; ``payout = amount - fee``.

    A ``cancel`` line has negative ``amount``, ``fee`` and ``payout``.
    """

    payment_key: str
    order_id: str
    method: str
    kind: SettlementKind
    amount: int
    fee: int
    payout: int
    transacted_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified webhook: ``payment`` is the payment's state as the PG sent it.

    ``order_id`` and ``payment_key`` name the payment even when ``payment`` is a
    :class:`Declined` (which carries neither), so the receiver can find its charge.
    """

    event_id: str
    event_type: str
    created_at: datetime
    payment: PaymentOutcome
    order_id: str | None = None
    payment_key: str | None = None
