"""Pure entitlement rules: the records, the consumption order, and how a usage report is paid.

No I/O here; ``grants``, ``items`` and ``usage`` load rows, call these and write what they say.
The rules are stated in ``docs/usage.md``; in short:

- **Play time** (a session without a product) is covered first by the member's period and mixed
  passes, free: the reported minutes are laid on the part of the report's interval (last report
  → this one) that a pass covered, rounded up to whole minutes, and when a pass covered all of it
  every reported minute is free. The rest comes from time entitlements, soonest-ending first
  (those that never end last), then the oldest.
- **A quantity product** draws its quantity passes, oldest first.
- **A mixed product** draws the included units of its passes (soonest-ending first, then the
  oldest), then charges each further unit at ``unit_price`` from cash.
- **A metered product** charges each unit at ``unit_price`` from cash.
- **Whole units only.** Reports are integers; cash is charged for whole units only, so a report
  that cash cannot fully pay is charged for the units it can pay (rounded down) and the rest is
  left unaccounted, and the session ends exhausted.
- **Validity.** An entitlement may pay for a report when it had started by the report and had not
  ended before the previous report (``starts_at <= now`` and ``ends_at > since``): a pass that
  ends between two reports still pays for that report, never for a later one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from coffer.kernel.errors import InvalidInput

#: Entitlement kinds that are passes (a period of use, ``starts_at``..``ends_at``).
PASS_KINDS = ("period_pass", "mixed")

#: The four ways a session is paid, by the product it names (``None``: play time).
USE_TIME = "time"
USE_QUANTITY = "quantity"
USE_MIXED = "mixed"
USE_METERED = "metered"

_USE_BY_PRODUCT_KIND = {
    "quantity_pass": USE_QUANTITY,
    "mixed": USE_MIXED,
    "metered": USE_METERED,
}

_MICROS_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True)
class Entitlement:
    """One grant a member owns; see ``entitlements.tables`` for which fields each kind uses."""

    id: UUID
    service_id: UUID
    member_id: UUID
    product_id: UUID | None
    kind: str
    status: str
    granted: int | None
    remaining: int | None
    unit_name: str | None
    starts_at: datetime
    ends_at: datetime | None
    purchase_line_id: UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_pass(self) -> bool:
        return self.kind in PASS_KINDS

    def valid_at(self, now: datetime) -> bool:
        """Not revoked, started, and not yet ended at ``now``."""
        return (
            self.status != "revoked"
            and self.starts_at <= now
            and (self.ends_at is None or now < self.ends_at)
        )

    def pays_for(self, since: datetime, now: datetime) -> bool:
        """May pay for a report covering ``since``..``now`` (started by now, not ended before)."""
        return (
            self.status != "revoked"
            and self.starts_at <= now
            and (self.ends_at is None or self.ends_at > since)
        )

    def in_use(self, now: datetime) -> bool:
        """Some of it was used: units or minutes drawn, or a pass whose time has begun."""
        if self.status == "revoked":
            return False
        if (
            self.remaining is not None
            and self.granted is not None
            and self.remaining < self.granted
        ):
            return True
        return self.is_pass and self.starts_at < now


@dataclass(frozen=True, slots=True)
class Session:
    id: UUID
    service_id: UUID
    member_id: UUID
    product_id: UUID | None
    unit_name: str
    status: str
    reference: str | None
    started_at: datetime
    last_heartbeat_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    used: int
    cash_charged: int


@dataclass(frozen=True, slots=True)
class QuantityBalance:
    """Units of one quantity product a member has left, over all its quantity passes."""

    product_id: UUID | None
    unit_name: str | None
    remaining: int


@dataclass(frozen=True, slots=True)
class MemberEntitlements:
    """What a member owns now: the view behind ``GET /members/{id}/entitlements``."""

    #: Items with something left (durable items always have their quantity left).
    items: list[Entitlement]
    #: Period and mixed passes that have not ended, current ones first, by start.
    passes: list[Entitlement]
    #: Units left per quantity product.
    quantities: list[QuantityBalance]
    #: Minutes of play time usable now (time entitlements), not counting passes.
    time_minutes: int
    #: Until when passes cover play time without a break (None: no pass now).
    play_covered_until: datetime | None


@dataclass(frozen=True, slots=True)
class Take:
    """Units of one report laid on one entitlement (``free``: covered by a pass's time)."""

    entitlement_id: UUID
    units: int
    free: bool


@dataclass(frozen=True, slots=True)
class UsePlan:
    """How one report is paid: entitlements, then whole units of cash; the rest unaccounted."""

    takes: tuple[Take, ...]
    cash_units: int
    cash: int
    unaccounted: int

    @property
    def accounted(self) -> int:
        return sum(take.units for take in self.takes) + self.cash_units


def use_of(product_kind: str | None) -> str:
    """How a session for a product of this kind is paid, or ``product_not_usable``."""
    if product_kind is None:
        return USE_TIME
    use = _USE_BY_PRODUCT_KIND.get(product_kind)
    if use is None:
        raise InvalidInput(
            "product_not_usable",
            "Sessions are for play time (no product) or a quantity_pass, mixed or metered "
            f"product, not a {product_kind}.",
        )
    return use


# --- the consumption order ------------------------------------------------------------------


def _soonest_ending(entitlement: Entitlement) -> tuple[bool, datetime, datetime, UUID]:
    ends = entitlement.ends_at
    return (ends is None, ends or entitlement.created_at, entitlement.created_at, entitlement.id)


def _oldest(entitlement: Entitlement) -> tuple[datetime, UUID]:
    return (entitlement.created_at, entitlement.id)


def _has_units(entitlement: Entitlement) -> bool:
    return entitlement.status == "active" and (entitlement.remaining or 0) > 0


def covering_passes(
    entitlements: Iterable[Entitlement], since: datetime, now: datetime
) -> list[Entitlement]:
    """The period and mixed passes valid at some moment of ``since``..``now``, by start."""
    found = [
        e
        for e in entitlements
        if e.is_pass
        and e.status != "revoked"
        and e.starts_at <= now
        and e.ends_at is not None
        and (e.ends_at > since if since < now else e.valid_at(now))
    ]
    return sorted(found, key=lambda e: (e.starts_at, e.id))


def consumption_order(
    use: str,
    entitlements: Iterable[Entitlement],
    *,
    product_id: UUID | None,
    since: datetime,
    now: datetime,
) -> list[Entitlement]:
    """The entitlements that may pay for a report, in the order they pay.

    Play time: covering passes (free, by start), then time entitlements soonest-ending first,
    then oldest. Quantity: that product's quantity passes, oldest first. Mixed: that product's
    passes with included units left, soonest-ending first, then oldest. Metered: none.
    """
    every = list(entitlements)
    if use == USE_TIME:
        passes = covering_passes(every, since, now)
        minutes = [
            e for e in every if e.kind == "time" and _has_units(e) and e.pays_for(since, now)
        ]
        return passes + sorted(minutes, key=_soonest_ending)
    if use == USE_QUANTITY:
        units = [
            e
            for e in every
            if e.kind == "quantity_pass"
            and e.product_id == product_id
            and _has_units(e)
            and e.pays_for(since, now)
        ]
        return sorted(units, key=_oldest)
    if use == USE_MIXED:
        included = [
            e
            for e in every
            if e.kind == "mixed"
            and e.product_id == product_id
            and _has_units(e)
            and e.pays_for(since, now)
        ]
        return sorted(included, key=_soonest_ending)
    return []


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _ceil_minutes(micros: int) -> int:
    return -(-micros // _MICROS_PER_MINUTE)


def _free_takes(
    passes: Sequence[Entitlement], used: int, since: datetime, now: datetime
) -> list[Take]:
    """Minutes of a report that passes cover, laid on the passes in order of their start."""
    covered: list[tuple[Entitlement, int]] = []
    cursor = since
    for entry in passes:
        assert entry.ends_at is not None
        start, end = max(cursor, entry.starts_at), min(now, entry.ends_at)
        if end > start:
            covered.append((entry, _micros(end - start)))
            cursor = end
        elif since == now:
            covered.append((entry, 0))
    if not covered:
        return []
    whole = since == now or sum(micros for _, micros in covered) == _micros(now - since)
    free = used if whole else min(used, _ceil_minutes(sum(micros for _, micros in covered)))
    takes: list[Take] = []
    for index, (entry, micros) in enumerate(covered):
        last = index == len(covered) - 1
        units = free if last else min(free, _ceil_minutes(micros))
        if units > 0:
            takes.append(Take(entry.id, units, free=True))
            free -= units
    return takes


def plan_use(
    use: str,
    ordered: Sequence[Entitlement],
    used: int,
    *,
    since: datetime,
    now: datetime,
    available_cash: int = 0,
    unit_price: int | None = None,
) -> UsePlan:
    """Pay ``used`` units reported for ``since``..``now`` from ``ordered`` (the consumption
    order), then from cash for mixed and metered use; whatever is left is unaccounted."""
    takes: list[Take] = []
    left = used
    if use == USE_TIME:
        passes = [e for e in ordered if e.is_pass]
        takes.extend(_free_takes(passes, left, since, now))
        left -= sum(take.units for take in takes)
    for entry in ordered:
        if left == 0:
            break
        if entry.is_pass and use == USE_TIME:
            continue
        units = min(left, entry.remaining or 0)
        if units > 0:
            takes.append(Take(entry.id, units, free=False))
            left -= units
    cash_units = 0
    if use in (USE_MIXED, USE_METERED) and left > 0:
        assert unit_price is not None
        assert unit_price > 0
        cash_units = min(left, available_cash // unit_price)
        left -= cash_units
    price = unit_price or 0
    return UsePlan(tuple(takes), cash_units, cash_units * price, left)


# --- what is left ---------------------------------------------------------------------------


def covered_until(passes: Iterable[Entitlement], now: datetime) -> datetime | None:
    """The end of the unbroken run of passes covering ``now`` (None: no pass covers now)."""
    candidates = [e for e in passes if e.is_pass and e.ends_at is not None]
    cursor: datetime | None = None
    moment = now
    while True:
        ends = [e.ends_at for e in candidates if e.valid_at(moment) and e.ends_at is not None]
        if not ends:
            return cursor
        cursor = max(ends)
        moment = cursor


def time_balance(entitlements: Iterable[Entitlement], now: datetime) -> int:
    """Minutes of play time usable now (time entitlements valid at ``now``)."""
    return sum(
        e.remaining or 0
        for e in entitlements
        if e.kind == "time" and e.status == "active" and e.valid_at(now)
    )


def units_left(
    use: str,
    entitlements: Sequence[Entitlement],
    *,
    product_id: UUID | None,
    now: datetime,
    available_cash: int = 0,
    unit_price: int | None = None,
) -> int:
    """How many more units (minutes) can be used now, not counting passes' unlimited time.

    Play time: the time balance; quantity: the product's units left; mixed: the included units
    left on the passes valid now plus what cash pays for; metered: what cash pays for.
    """
    if use == USE_TIME:
        return time_balance(entitlements, now)
    owned = [e for e in entitlements if e.product_id == product_id and e.valid_at(now)]
    cash_units = available_cash // unit_price if unit_price else 0
    if use == USE_QUANTITY:
        return sum(e.remaining or 0 for e in owned if e.kind == "quantity_pass" and _has_units(e))
    if use == USE_MIXED:
        passes = [e for e in owned if e.kind == "mixed"]
        if not passes:
            return 0
        return sum(e.remaining or 0 for e in passes) + cash_units
    return cash_units


def can_continue(
    use: str,
    entitlements: Sequence[Entitlement],
    *,
    product_id: UUID | None,
    now: datetime,
    available_cash: int = 0,
    unit_price: int | None = None,
) -> bool:
    """Whether one more unit could be paid now (for play time: a pass covers now, or minutes)."""
    if use == USE_TIME and covered_until(entitlements, now) is not None:
        return True
    if use == USE_MIXED and not any(
        e.kind == "mixed" and e.product_id == product_id and e.valid_at(now) for e in entitlements
    ):
        return False
    left = units_left(
        use, entitlements, product_id=product_id, now=now,
        available_cash=available_cash, unit_price=unit_price,
    )  # fmt: skip
    return left > 0


# --- grants and the member's view -----------------------------------------------------------


def next_pass_start(
    entitlements: Iterable[Entitlement], product_id: UUID, now: datetime
) -> datetime:
    """Where a new pass of ``product_id`` starts: the end of the latest one, or now."""
    ends = [
        e.ends_at
        for e in entitlements
        if e.is_pass and e.product_id == product_id and e.status != "revoked" and e.ends_at
    ]
    return max([now, *ends])


def minutes_for_cash(amount: int, cash_per_minute: int) -> tuple[int, int]:
    """The rate card: ``(minutes, cost)`` for up to ``amount`` cash; whole minutes, rounded
    down, and only ``minutes * cash_per_minute`` is charged."""
    if cash_per_minute <= 0:
        raise InvalidInput("invalid_rate", "cash_per_minute must be positive.")
    minutes = max(amount, 0) // cash_per_minute
    return minutes, minutes * cash_per_minute


def member_view(entitlements: Iterable[Entitlement], now: datetime) -> MemberEntitlements:
    """Group a member's entitlements into what ``GET …/entitlements`` shows."""
    every = [e for e in entitlements if e.status != "revoked"]
    items = [e for e in every if e.kind == "item" and _has_units(e)]
    passes = [e for e in every if e.is_pass and e.ends_at is not None and e.ends_at > now]
    quantities: dict[UUID | None, QuantityBalance] = {}
    for entry in sorted(every, key=_oldest):
        if entry.kind != "quantity_pass" or not _has_units(entry) or not entry.valid_at(now):
            continue
        known = quantities.get(entry.product_id)
        total = (known.remaining if known else 0) + (entry.remaining or 0)
        quantities[entry.product_id] = QuantityBalance(entry.product_id, entry.unit_name, total)
    return MemberEntitlements(
        items=sorted(items, key=_oldest),
        passes=sorted(passes, key=lambda e: (e.starts_at, e.id)),
        quantities=list(quantities.values()),
        time_minutes=time_balance(every, now),
        play_covered_until=covered_until(every, now),
    )
