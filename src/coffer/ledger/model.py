"""Pure ledger rules: which lots a debit draws from, how a hold commit splits, balances.

No I/O here. The write engine and the service functions apply what these return.

Rules worth stating:

- **Consumption order.** ``bonus_first`` (the default): bonus lots before paid lots; within a
  kind, the soonest expiry first (lots that never expire last), then the oldest lot.
  ``paid_first`` swaps the kinds. Expired lots are never drawn.
- **Reversal onto an expired lot.** A reversal puts the cash back into the exact lots it came
  from. A lot whose expiry has passed in between gets its cash back and loses it at once to
  breakage, in the same transaction: the member is made whole for what was still valid, and
  cash that would have expired had it not been spent still expires.
- **Hold commit.** A hold draws its lots when it is reserved. Committing part of it keeps the
  draws in the order they were drawn (the ones consumption order prefers are spent) and returns
  the rest, last drawn first, to their lots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from coffer.kernel.errors import InsufficientFunds

CASH_KINDS = ("paid", "bonus")


@dataclass(frozen=True, slots=True)
class WalletRef:
    """What the ledger needs to know about the member whose cash moves."""

    service_id: UUID
    member_id: UUID
    currency: str
    timezone: str
    consumption_order: str = "bonus_first"


@dataclass(frozen=True, slots=True)
class LotView:
    id: UUID
    kind: str
    remaining: int
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Draw:
    lot_id: UUID
    kind: str
    amount: int


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    paid: int
    bonus: int
    held: int
    expiring_soon: int

    @property
    def available(self) -> int:
        return self.paid + self.bonus

    @property
    def total(self) -> int:
        return self.paid + self.bonus + self.held


def is_spendable(lot: LotView, now: datetime) -> bool:
    return lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)


LotKey = tuple[int, int, datetime, datetime, UUID]


def consumption_key(order: str) -> Callable[[LotView], LotKey]:
    first_kind = "bonus" if order == "bonus_first" else "paid"

    def key(lot: LotView) -> LotKey:
        never = lot.expires_at is None
        return (
            0 if lot.kind == first_kind else 1,
            1 if never else 0,
            lot.expires_at or lot.created_at,
            lot.created_at,
            lot.id,
        )

    return key


def allocate(lots: list[LotView], amount: int, *, order: str, now: datetime) -> list[Draw]:
    """Draw ``amount`` from spendable lots in consumption order, or raise insufficient funds."""
    spendable = sorted((lot for lot in lots if is_spendable(lot, now)), key=consumption_key(order))
    available = sum(lot.remaining for lot in spendable)
    if available < amount:
        raise InsufficientFunds(amount, available)
    draws: list[Draw] = []
    left = amount
    for lot in spendable:
        if left == 0:
            break
        take = min(left, lot.remaining)
        draws.append(Draw(lot.id, lot.kind, take))
        left -= take
    return draws


def split_commit(draws: list[Draw], commit: int) -> tuple[list[Draw], list[Draw]]:
    """Split a hold's draws into the part committed and the part returned to the lots."""
    kept: list[Draw] = []
    returned: list[Draw] = []
    left = commit
    for draw in draws:
        take = min(left, draw.amount)
        if take:
            kept.append(Draw(draw.lot_id, draw.kind, take))
        if draw.amount - take:
            returned.append(Draw(draw.lot_id, draw.kind, draw.amount - take))
        left -= take
    returned.reverse()
    return kept, returned


def by_kind(draws: list[Draw]) -> dict[str, int]:
    totals = dict.fromkeys(CASH_KINDS, 0)
    for draw in draws:
        totals[draw.kind] += draw.amount
    return totals


def business_date(moment: datetime, timezone: str) -> date:
    """The service's calendar date at ``moment`` (journals are dated in the service's zone)."""
    return moment.astimezone(ZoneInfo(timezone)).date()
