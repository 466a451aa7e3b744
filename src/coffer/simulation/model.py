"""What a what-if simulation answers, as plain values (docs/simulation.md). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from coffer.kernel.errors import InvalidInput

#: The rule id a draft that has no id yet is simulated under.
DRAFT_ID = UUID("00000000-0000-7000-8000-000000000000")
#: Longest window a simulation replays, in days.
MAX_DAYS = 366
#: Most affected purchases a policy simulation lists.
MOST_AFFECTED = 20
#: Most products a policy simulation lists.
TOP_PRODUCTS = 10


def check_days(value: object) -> int:
    """A window of 1 to :data:`MAX_DAYS` whole days, else ``invalid_days``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise InvalidInput(
            "invalid_days", f"days must be a whole number from 1 to {MAX_DAYS}.", {"field": "days"}
        )
    return value


@dataclass(frozen=True, slots=True)
class MemberFigure:
    """What the draft gave one member: how many purchases (or charges), and how much."""

    member_id: UUID
    external_id: str
    count: int
    amount: int


@dataclass(frozen=True, slots=True)
class PolicyDay:
    """One day (in the service's time zone) of a policy simulation."""

    day: date
    purchases: int
    #: Purchases whose price the draft changed.
    affected: int
    revenue_before: int
    revenue_after: int
    discount: int


@dataclass(frozen=True, slots=True)
class ProductFigure:
    product_id: UUID
    sku: str
    #: Units bought, and of them on lines the draft discounted.
    quantity: int
    discounted_lines: int
    discount: int


@dataclass(frozen=True, slots=True)
class AffectedPurchase:
    purchase_id: UUID
    member_id: UUID
    external_id: str
    created_at: datetime
    before: int
    after: int
    discount: int


@dataclass(frozen=True, slots=True)
class PolicySimulation:
    """A draft policy replayed over the purchases of ``[since, until)``.

    ``revenue_before`` prices them under the policies live now; ``revenue_after`` under the
    same plus the draft. ``discount`` is what the draft itself took off (it may displace a live
    exclusive policy, so ``revenue_before - revenue_after`` can differ from it).
    """

    since: datetime
    until: datetime
    days: int
    purchases: int
    lines: int
    members: int
    members_affected: int
    purchases_affected: int
    revenue_before: int
    revenue_after: int
    discount: int
    budget: int | None
    #: The purchase at which the draft's budget ran out (None: it did not).
    budget_spent_at: datetime | None
    by_day: tuple[PolicyDay, ...]
    top_products: tuple[ProductFigure, ...]
    most_affected: tuple[AffectedPurchase, ...]
    #: Each member the draft discounted: purchases discounted, and how much (most first).
    by_member: tuple[MemberFigure, ...]

    @property
    def revenue_change(self) -> int:
        return self.revenue_after - self.revenue_before


@dataclass(frozen=True, slots=True)
class EventDay:
    day: date
    charges: int
    #: Charges the draft gave a bonus for.
    earning: int
    charged: int
    bonus: int


@dataclass(frozen=True, slots=True)
class MethodFigure:
    method: str
    charges: int
    earning: int
    charged: int
    bonus: int


@dataclass(frozen=True, slots=True)
class EventSimulation:
    """A draft charge event replayed over the charges credited in ``[since, until)``.

    ``bonus`` is what the draft would have given; ``bonus_before`` / ``bonus_after`` are every
    live event's bonus without and with the draft (an exclusive draft may displace one).
    """

    since: datetime
    until: datetime
    days: int
    charges: int
    charged: int
    earning: int
    members: int
    members_affected: int
    bonus: int
    bonus_before: int
    bonus_after: int
    budget: int | None
    budget_spent_at: datetime | None
    by_day: tuple[EventDay, ...]
    by_method: tuple[MethodFigure, ...]
    #: Each member the draft gave a bonus: charges that earned one, and how much (most first).
    by_member: tuple[MemberFigure, ...]
