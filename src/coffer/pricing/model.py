"""Discount rules and charge-event rules as plain values, and their JSON form (docs/pricing.md).

No I/O here. A rule is stored as JSON in a version row (``pricing.tables``) and in a discount
coupon's campaign; :func:`parse_discount_rule` and :func:`parse_event_rule` are the one place
that JSON is read and checked, for the API, the admin pages and the stored rows alike. A bad
rule is ``invalid_rule`` with the field named in ``details``.

Money is integers in minor units; percentages are basis points (1 % = 100 bp).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT

SCOPE_KINDS = ("catalog", "products", "categories")
STACKINGS = ("exclusive", "stackable")
EFFECT_KINDS = ("percent_off", "amount_off", "fixed_price", "buy_n_get_m")
CHARGE_METHODS = ("card", "transfer", "virtual_account", "mobile", "gift")
MAX_PRIORITY = 1000
MAX_RULE_DAYS = 3660
#: Most grades, products or categories one rule may name.
MAX_RULE_TARGETS = 200
#: Most tiers one event may have.
MAX_TIERS = 20

RuleKind = Literal["policy", "coupon", "event"]


# --- discount rules -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What a rule applies to: the whole catalog, some products, or some menu subtrees."""

    kind: str = "catalog"
    ids: frozenset[UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class Conditions:
    """When a rule applies. Empty ``grades``: any grade. Times are UTC, ``ends_at`` exclusive.

    ``min_amount`` is the list-price subtotal of the purchase's lines in the rule's scope;
    ``min_quantity`` is per line.
    """

    grades: frozenset[str] = frozenset()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    first_purchase: bool = False
    min_amount: int = 0
    min_quantity: int = 1

    def in_window(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )


@dataclass(frozen=True, slots=True)
class Effect:
    """What a rule takes off one line.

    - ``percent_off``: ``value`` bp of the line's list amount, rounded down (the member never
      gets less than the rule says is off, the service never gives a fraction of a won);
    - ``amount_off``: ``value`` off each unit;
    - ``fixed_price``: each unit costs ``value`` (no discount if the price is already lower);
    - ``buy_n_get_m``: of every ``buy + get`` units, ``get`` are free.
    """

    kind: str
    value: int = 0
    buy: int = 0
    get: int = 0


@dataclass(frozen=True, slots=True)
class DiscountRule:
    scope: Scope
    conditions: Conditions
    effect: Effect
    priority: int = 0
    stacking: str = "exclusive"
    #: How many purchases of one member the rule may discount (None: no limit).
    uses_per_member: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": {"kind": self.scope.kind, "ids": sorted(str(i) for i in self.scope.ids)},
            "conditions": _conditions_json(self.conditions),
            "effect": _effect_json(self.effect),
            "priority": self.priority,
            "stacking": self.stacking,
            "uses_per_member": self.uses_per_member,
        }


# --- charge-event rules ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """From ``min_amount`` charged up: ``percent_bp`` of the charge (rounded down), plus
    ``fixed``. The highest tier the charge reaches applies."""

    min_amount: int
    percent_bp: int = 0
    fixed: int = 0


@dataclass(frozen=True, slots=True)
class EventRule:
    tiers: tuple[Tier, ...]
    #: Payment methods it applies to (empty: every method).
    methods: frozenset[str] = frozenset()
    grades: frozenset[str] = frozenset()
    first_charge: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    #: How many bonuses one member may get from this event (None: no limit).
    per_member_limit: int | None = None
    #: The bonus lot expires this many days after the charge (None: never).
    bonus_days: int | None = None
    priority: int = 0
    stacking: str = "stackable"

    def in_window(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "tiers": [
                {"min_amount": t.min_amount, "percent_bp": t.percent_bp, "fixed": t.fixed}
                for t in self.tiers
            ],
            "methods": sorted(self.methods),
            "grades": sorted(self.grades),
            "first_charge": self.first_charge,
            "starts_at": _time_json(self.starts_at),
            "ends_at": _time_json(self.ends_at),
            "per_member_limit": self.per_member_limit,
            "bonus_days": self.bonus_days,
            "priority": self.priority,
            "stacking": self.stacking,
        }


# --- what the engines are given and give back ----------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class RuleKey:
    """Which rule, at which version: ``policy`` and ``event`` ids are theirs, ``coupon`` is
    the campaign's (a campaign's rule has version 1)."""

    kind: str
    id: UUID
    version: int


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A discount rule live for this quote, with the member's and the budget's state."""

    key: RuleKey
    name: str
    rule: DiscountRule
    #: Cash left in the budget (None: no budget).
    budget_left: int | None = None
    #: Purchases of this member the rule has already discounted.
    member_uses: int = 0


@dataclass(frozen=True, slots=True)
class ActiveEvent:
    key: RuleKey
    name: str
    rule: EventRule
    budget_left: int | None = None
    #: Bonuses this member has already had from the event.
    member_bonuses: int = 0


@dataclass(frozen=True, slots=True)
class QuoteItem:
    """One requested line: the product at list price, and the menus it sits under."""

    product_id: UUID
    sku: str
    unit_price: int
    quantity: int
    #: The product's menus and all their ancestors (a subtree scope matches any of them).
    category_ids: frozenset[UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class MemberFacts:
    grade: str
    #: The member has no completed purchase yet (cancelled ones do not count).
    first_purchase: bool = False
    #: The member has no approved charge yet.
    first_charge: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    """One rule's part in one line's price (or one charge's bonus): how much, and why."""

    key: RuleKey
    name: str
    amount: int
    #: In English, for logs and the API; pages say it from ``effect`` and ``capped``.
    reason: str
    #: The effect that took ``amount`` off (None: a bonus, or a rule that did not apply).
    effect: Effect | None = None
    #: The rule's budget cut the amount short.
    capped: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.key.kind,
            "id": str(self.key.id),
            "version": self.key.version,
            "name": self.name,
            "amount": self.amount,
            "reason": self.reason,
            "effect": None if self.effect is None else _applied_effect_json(self.effect),
            "capped": self.capped,
        }


@dataclass(frozen=True, slots=True)
class PricedLine:
    """``amount = unit_price * quantity - discount``; ``discount`` is the sum of ``applied``."""

    product_id: UUID
    sku: str
    quantity: int
    unit_price: int
    discount: int
    amount: int
    applied: tuple[Applied, ...] = ()


@dataclass(frozen=True, slots=True)
class CashDraw:
    """What the total would draw from the wallet now: bonus and paid, and what is missing."""

    bonus: int
    paid: int
    short: int


@dataclass(frozen=True, slots=True)
class PricedQuote:
    lines: tuple[PricedLine, ...]
    list_total: int
    discount: int
    total: int
    #: Rules that were live but did not apply, and why (for "why is there no discount?").
    skipped: tuple[Applied, ...] = ()
    coupon_discount: int = 0
    cash: CashDraw | None = None


@dataclass(frozen=True, slots=True)
class Bonus:
    """Bonus cash one event gives for one charge."""

    key: RuleKey
    name: str
    amount: int
    bonus_days: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ChargeFacts:
    amount: int
    method: str
    now: datetime
    member: MemberFacts = field(default_factory=lambda: MemberFacts(grade=""))


# --- JSON -----------------------------------------------------------------------------------


def _time_json(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _conditions_json(c: Conditions) -> dict[str, Any]:
    return {
        "grades": sorted(c.grades),
        "starts_at": _time_json(c.starts_at),
        "ends_at": _time_json(c.ends_at),
        "first_purchase": c.first_purchase,
        "min_amount": c.min_amount,
        "min_quantity": c.min_quantity,
    }


def _effect_json(e: Effect) -> dict[str, Any]:
    if e.kind == "buy_n_get_m":
        return {"kind": e.kind, "buy": e.buy, "get": e.get}
    return {"kind": e.kind, "value": e.value}


def _applied_effect_json(e: Effect) -> dict[str, Any]:
    """An effect as quotes show it: every field, None where the kind has none."""
    buy_get = e.kind == "buy_n_get_m"
    return {
        "kind": e.kind,
        "value": None if buy_get else e.value,
        "buy": e.buy if buy_get else None,
        "get": e.get if buy_get else None,
    }


def _bad(field_name: str, message: str) -> InvalidInput:
    return InvalidInput("invalid_rule", message, {"field": field_name})


def _object(value: object, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(field_name, f"{field_name} must be an object.")
    return value


def _int(
    data: Mapping[str, Any], name: str, default: int | None, low: int, high: int, where: str
) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{where}{name}", f"{where}{name} must be a whole number from {low} to {high}.")
    return value


def _optional_int(
    data: Mapping[str, Any], name: str, low: int, high: int, where: str = ""
) -> int | None:
    if data.get(name) is None:
        return None
    return _int(data, name, None, low, high, where)


def _bool(data: Mapping[str, Any], name: str, where: str = "") -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise _bad(f"{where}{name}", f"{where}{name} must be true or false.")
    return value


def _time(data: Mapping[str, Any], name: str, where: str = "") -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _bad(f"{where}{name}", f"{where}{name} must be an ISO 8601 time.") from None
    else:
        raise _bad(f"{where}{name}", f"{where}{name} must be an ISO 8601 time.")
    if parsed.tzinfo is None:
        raise _bad(f"{where}{name}", f"{where}{name} needs a time zone offset.")
    return parsed


def _strings(data: Mapping[str, Any], name: str, allowed: tuple[str, ...] | None = None,
             where: str = "") -> frozenset[str]:  # fmt: skip
    value = data.get(name) or []
    if not isinstance(value, list | tuple | set | frozenset) or len(value) > MAX_RULE_TARGETS:
        raise _bad(f"{where}{name}", f"{where}{name} must be a list.")
    items: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 40:
            raise _bad(f"{where}{name}", f"{where}{name} must hold names of 1-40 characters.")
        if allowed is not None and item not in allowed:
            raise _bad(f"{where}{name}", f"{where}{name} may hold only {', '.join(allowed)}.")
        items.add(item.strip())
    return frozenset(items)


def _window(starts_at: datetime | None, ends_at: datetime | None, where: str) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise _bad(f"{where}ends_at", f"{where}ends_at must be after starts_at.")


def _stacking(data: Mapping[str, Any], default: str) -> str:
    value = data.get("stacking", default)
    if value not in STACKINGS:
        raise _bad("stacking", f"stacking must be one of {', '.join(STACKINGS)}.")
    return str(value)


def parse_scope(value: object) -> Scope:
    data = _object(value if value is not None else {"kind": "catalog"}, "scope")
    kind = data.get("kind", "catalog")
    if kind not in SCOPE_KINDS:
        raise _bad("scope.kind", f"scope.kind must be one of {', '.join(SCOPE_KINDS)}.")
    raw = data.get("ids") or []
    if not isinstance(raw, list | tuple | set | frozenset) or len(raw) > MAX_RULE_TARGETS:
        raise _bad("scope.ids", "scope.ids must be a list of ids.")
    try:
        ids = frozenset(i if isinstance(i, UUID) else UUID(str(i)) for i in raw)
    except ValueError:
        raise _bad("scope.ids", "scope.ids must be a list of ids.") from None
    if (kind == "catalog") != (not ids):
        raise _bad("scope.ids", "scope.ids names the products or menus (none for the catalog).")
    return Scope(kind=str(kind), ids=ids)


def parse_effect(value: object) -> Effect:
    data = _object(value, "effect")
    kind = data.get("kind")
    if kind not in EFFECT_KINDS:
        raise _bad("effect.kind", f"effect.kind must be one of {', '.join(EFFECT_KINDS)}.")
    if kind == "buy_n_get_m":
        buy = _int(data, "buy", None, 1, 1000, "effect.")
        return Effect(kind=kind, buy=buy, get=_int(data, "get", None, 1, 1000, "effect."))
    if kind == "percent_off":
        return Effect(kind=kind, value=_int(data, "value", None, 1, 10_000, "effect."))
    low = 0 if kind == "fixed_price" else 1
    return Effect(kind=str(kind), value=_int(data, "value", None, low, MAX_AMOUNT, "effect."))


def parse_conditions(value: object) -> Conditions:
    data = _object(value if value is not None else {}, "conditions")
    where = "conditions."
    conditions = Conditions(
        grades=_strings(data, "grades", where=where),
        starts_at=_time(data, "starts_at", where),
        ends_at=_time(data, "ends_at", where),
        first_purchase=_bool(data, "first_purchase", where),
        min_amount=_int(data, "min_amount", 0, 0, MAX_AMOUNT, where),
        min_quantity=_int(data, "min_quantity", 1, 1, 10_000, where),
    )
    _window(conditions.starts_at, conditions.ends_at, where)
    return conditions


def parse_discount_rule(value: object) -> DiscountRule:
    """A discount rule from its JSON form, or ``invalid_rule`` naming the bad field."""
    data = _object(value, "rule")
    return DiscountRule(
        scope=parse_scope(data.get("scope")),
        conditions=parse_conditions(data.get("conditions")),
        effect=parse_effect(data.get("effect")),
        priority=_int(data, "priority", 0, 0, MAX_PRIORITY, ""),
        stacking=_stacking(data, "exclusive"),
        uses_per_member=_optional_int(data, "uses_per_member", 1, 1_000_000),
    )


def parse_event_rule(value: object) -> EventRule:
    """A charge-event rule from its JSON form, or ``invalid_rule`` naming the bad field."""
    data = _object(value, "rule")
    raw_tiers = data.get("tiers")
    if not isinstance(raw_tiers, list | tuple) or not 1 <= len(raw_tiers) <= MAX_TIERS:
        raise _bad("tiers", f"tiers must list 1 to {MAX_TIERS} tiers.")
    tiers: list[Tier] = []
    for index, raw in enumerate(raw_tiers):
        where = f"tiers[{index}]."
        tier_data = _object(raw, f"tiers[{index}]")
        tier = Tier(
            min_amount=_int(tier_data, "min_amount", 0, 0, MAX_AMOUNT, where),
            percent_bp=_int(tier_data, "percent_bp", 0, 0, 10_000, where),
            fixed=_int(tier_data, "fixed", 0, 0, MAX_AMOUNT, where),
        )
        if tier.percent_bp == 0 and tier.fixed == 0:
            raise _bad(f"{where}percent_bp", "A tier gives a percentage, a fixed bonus or both.")
        tiers.append(tier)
    if len({t.min_amount for t in tiers}) != len(tiers):
        raise _bad("tiers", "Two tiers start at the same amount.")
    rule = EventRule(
        tiers=tuple(sorted(tiers, key=lambda t: t.min_amount)),
        methods=_strings(data, "methods", CHARGE_METHODS),
        grades=_strings(data, "grades"),
        first_charge=_bool(data, "first_charge"),
        starts_at=_time(data, "starts_at"),
        ends_at=_time(data, "ends_at"),
        per_member_limit=_optional_int(data, "per_member_limit", 1, 1_000_000),
        bonus_days=_optional_int(data, "bonus_days", 1, MAX_RULE_DAYS),
        priority=_int(data, "priority", 0, 0, MAX_PRIORITY, ""),
        stacking=_stacking(data, "stackable"),
    )
    _window(rule.starts_at, rule.ends_at, "")
    return rule
