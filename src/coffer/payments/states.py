"""The charge state machine, written down as data (docs/charges.md draws it).

A charge moves only along :data:`TRANSITIONS`; every other move is refused, so a late or stale
message can never take an approved charge back to an earlier state. ``approved`` is the one state
whose entry credits cash (for a virtual account it is reached by the deposit: the timeline says
``deposited``).
"""

from __future__ import annotations

from typing import Literal

ChargeStatus = Literal[
    "created",
    "in_progress",
    "unknown",
    "waiting_for_deposit",
    "approved",
    "partially_cancelled",
    "cancelled",
    "failed",
    "expired",
]

CHARGE_STATUSES: tuple[ChargeStatus, ...] = (
    "created",
    "in_progress",
    "unknown",
    "waiting_for_deposit",
    "approved",
    "partially_cancelled",
    "cancelled",
    "failed",
    "expired",
)

#: from -> the states a charge may move to.
TRANSITIONS: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    # The member is on the PG's checkout page (or left it).
    "created": frozenset(
        {"in_progress", "waiting_for_deposit", "approved", "failed", "expired", "unknown"}
    ),
    # Coffer is confirming with the PG.
    "in_progress": frozenset({"approved", "waiting_for_deposit", "failed", "unknown", "cancelled"}),
    # The PG's answer was lost (timeout, 5xx, broken reply): the janitor asks again.
    "unknown": frozenset({"approved", "waiting_for_deposit", "failed", "cancelled"}),
    # A virtual account was issued; the member has not paid into it yet.
    "waiting_for_deposit": frozenset({"approved", "expired", "cancelled"}),
    # Credited. Only refunds move it on.
    "approved": frozenset({"partially_cancelled", "cancelled"}),
    "partially_cancelled": frozenset({"partially_cancelled", "cancelled"}),
    "cancelled": frozenset(),
    "failed": frozenset(),
    "expired": frozenset(),
}

#: Charges whose outcome is still open: the janitor looks after them.
OPEN_STATUSES: frozenset[ChargeStatus] = frozenset(
    {"created", "in_progress", "unknown", "waiting_for_deposit"}
)
#: Charges whose cash was credited.
CREDITED_STATUSES: frozenset[ChargeStatus] = frozenset(
    {"approved", "partially_cancelled", "cancelled"}
)
#: Charges that count against a member's daily and monthly charge limits.
COUNTED_STATUSES: frozenset[ChargeStatus] = frozenset(
    {"in_progress", "unknown", "waiting_for_deposit", "approved", "partially_cancelled"}
)


def may_move(current: str, target: str) -> bool:
    """Whether a charge in ``current`` may move to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())  # type: ignore[call-overload]


RefundStatus = Literal["pending", "sending", "unknown", "done", "refused", "requested"]
REFUND_STATUSES: tuple[RefundStatus, ...] = (
    "pending",
    "sending",
    "unknown",
    "done",
    "refused",
    "requested",
)
#: A refund the PG has not answered yet; a charge has at most one at a time.
REFUND_IN_FLIGHT: frozenset[RefundStatus] = frozenset({"pending", "sending", "unknown"})
#: ``pg_cancel``: the PG cancels the payment. ``bank_refund``: the PG can no longer cancel
#: (carrier billing after its month), so the money goes back by bank transfer, done by a person.
REFUND_KINDS = ("pg_cancel", "bank_refund")
