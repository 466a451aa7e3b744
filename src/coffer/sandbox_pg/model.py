"""Methods, statuses, banks and fees: the sandbox's plain data and rules."""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    CARD = "card"
    TRANSFER = "transfer"
    VIRTUAL_ACCOUNT = "virtual_account"
    MOBILE = "mobile"
    GIFT = "gift"


class Status(StrEnum):
    READY = "READY"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_FOR_DEPOSIT = "WAITING_FOR_DEPOSIT"
    DONE = "DONE"
    CANCELED = "CANCELED"
    PARTIAL_CANCELED = "PARTIAL_CANCELED"
    ABORTED = "ABORTED"
    EXPIRED = "EXPIRED"


#: A new checkout of the same order replaces a payment in one of these states.
REPLACEABLE = frozenset({Status.READY, Status.ABORTED, Status.EXPIRED})
CANCELABLE = frozenset({Status.DONE, Status.PARTIAL_CANCELED})

BANKS: dict[str, str] = {
    "04": "KB Kookmin",
    "88": "Shinhan",
    "20": "Woori",
    "81": "Hana",
    "11": "NH Nonghyup",
    "90": "Kakao Bank",
    "99": "Sandbox Decline Bank",
}

#: Percentage fees in basis points.
FEE_BASIS_POINTS: dict[Method, int] = {
    Method.CARD: 250,
    Method.TRANSFER: 180,
    Method.MOBILE: 350,
    Method.GIFT: 500,
}
VIRTUAL_ACCOUNT_FEE = 300

#: A READY payment not confirmed within this many seconds is EXPIRED.
CONFIRM_WINDOW_SECONDS = 600
#: A virtual account waits this many days for its deposit.
DEPOSIT_DAYS = 7


def fee_for(method: Method, kind: str, amount: int) -> int:
    """The fee of one settlement line; ``amount`` is negative for a cancel.

    Percentage fees: ``(abs(amount) * bp + 5000) // 10000`` (half up to the won) with the
    amount's sign. Virtual accounts: a flat 300 per payment, nothing back on a cancel.
    """
    if method is Method.VIRTUAL_ACCOUNT:
        return VIRTUAL_ACCOUNT_FEE if kind == "PAYMENT" else 0
    fee = (abs(amount) * FEE_BASIS_POINTS[method] + 5000) // 10000
    return fee if amount >= 0 else -fee
