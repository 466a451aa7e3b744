"""Reading discount and charge-event rules from JSON: good ones round-trip, bad ones name the
field (``invalid_rule``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from coffer.kernel.errors import InvalidInput
from coffer.pricing.model import (
    Conditions,
    DiscountRule,
    Effect,
    EventRule,
    Scope,
    Tier,
    parse_discount_rule,
    parse_event_rule,
)

P1, P2 = UUID(int=1), UUID(int=2)
KST = timezone(timedelta(hours=9))

GOOD_RULES: list[dict[str, Any]] = [
    {"effect": {"kind": "percent_off", "value": 1000}},
    {
        "scope": {"kind": "products", "ids": [str(P2), str(P1)]},
        "conditions": {
            "grades": ["gold", "vip"],
            "starts_at": "2025-03-01T00:00:00+09:00",
            "ends_at": "2025-04-01T00:00:00+09:00",
            "first_purchase": True,
            "min_amount": 30_000,
            "min_quantity": 2,
        },
        "effect": {"kind": "amount_off", "value": 2000},
        "priority": 10,
        "stacking": "stackable",
        "uses_per_member": 3,
    },
    {
        "scope": {"kind": "categories", "ids": [str(P1)]},
        "effect": {"kind": "fixed_price", "value": 0},
    },
    {"effect": {"kind": "buy_n_get_m", "buy": 2, "get": 1}},
]


@pytest.mark.parametrize("data", GOOD_RULES, ids=["percent", "full", "fixed", "bngm"])
def test_discount_rule_round_trips(data: dict[str, Any]) -> None:
    rule = parse_discount_rule(data)
    stored = json.loads(json.dumps(rule.as_json()))
    assert parse_discount_rule(stored) == rule
    assert parse_discount_rule(stored).as_json() == stored


def test_discount_rule_values_and_defaults() -> None:
    assert parse_discount_rule(GOOD_RULES[0]) == DiscountRule(
        scope=Scope("catalog"),
        conditions=Conditions(),
        effect=Effect("percent_off", 1000),
        priority=0,
        stacking="exclusive",
        uses_per_member=None,
    )
    full = parse_discount_rule(GOOD_RULES[1])
    assert full.scope == Scope("products", frozenset({P1, P2}))
    assert full.conditions.starts_at == datetime(2025, 3, 1, tzinfo=KST)
    assert full.conditions.ends_at == datetime(2025, 3, 31, 15, tzinfo=UTC)
    assert full.conditions.grades == frozenset({"gold", "vip"})
    assert full.as_json()["scope"]["ids"] == [str(P1), str(P2)]


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.loads(json.dumps(base if base is not None else GOOD_RULES[1]))
    *parents, last = path.split(".")
    target = data
    for name in parents:
        target = target.setdefault(name, {})
    target[last] = value
    return data


BAD_RULES: list[tuple[str, Any, str]] = [
    ("effect", {"kind": "fixed_price", "value": -1}, "effect.value"),
    ("effect", {"kind": "percent_off", "value": 0}, "effect.value"),
    ("effect", {"kind": "percent_off", "value": 10_001}, "effect.value"),
    ("effect", {"kind": "percent_off", "value": 10.5}, "effect.value"),
    ("effect", {"kind": "percent_off", "value": "10"}, "effect.value"),
    ("effect", {"kind": "amount_off", "value": 0}, "effect.value"),
    ("effect", {"kind": "amount_off", "value": True}, "effect.value"),
    ("effect", {"kind": "free_lunch", "value": 1}, "effect.kind"),
    ("effect", {"kind": "buy_n_get_m", "buy": 2}, "effect.get"),
    ("effect", {"kind": "buy_n_get_m", "buy": 0, "get": 1}, "effect.buy"),
    ("effect", None, "effect"),
    ("conditions.ends_at", "2025-02-01T00:00:00+09:00", "conditions.ends_at"),
    ("conditions.ends_at", "2025-03-01T00:00:00+09:00", "conditions.ends_at"),
    ("conditions.starts_at", "2025-03-01T00:00:00", "conditions.starts_at"),
    ("conditions.starts_at", "yesterday", "conditions.starts_at"),
    ("conditions.min_amount", -1, "conditions.min_amount"),
    ("conditions.min_quantity", 0, "conditions.min_quantity"),
    ("conditions.grades", "gold", "conditions.grades"),
    ("conditions.grades", [""], "conditions.grades"),
    ("conditions.first_purchase", "yes", "conditions.first_purchase"),
    ("conditions", [], "conditions"),
    ("scope", {"kind": "products", "ids": ["not-a-uuid"]}, "scope.ids"),
    ("scope", {"kind": "products", "ids": []}, "scope.ids"),
    ("scope", {"kind": "products", "ids": str(P1)}, "scope.ids"),
    ("scope", {"kind": "catalog", "ids": [str(P1)]}, "scope.ids"),
    ("scope", {"kind": "shelf", "ids": [str(P1)]}, "scope.kind"),
    ("priority", -1, "priority"),
    ("priority", 1001, "priority"),
    ("stacking", "sometimes", "stacking"),
    ("uses_per_member", 0, "uses_per_member"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), BAD_RULES, ids=[f"{i:02d}-{b[2]}" for i, b in enumerate(BAD_RULES)]
)
def test_bad_discount_rule_names_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_discount_rule(_with(path, value))
    assert caught.value.code == "invalid_rule"
    assert caught.value.details == {"field": field}


def test_discount_rule_must_be_an_object() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_discount_rule([1, 2])
    assert (caught.value.code, caught.value.details) == ("invalid_rule", {"field": "rule"})


# --- charge events --------------------------------------------------------------------------

GOOD_EVENT: dict[str, Any] = {
    "tiers": [
        {"min_amount": 50_000, "percent_bp": 1000, "fixed": 1000},
        {"min_amount": 10_000, "percent_bp": 500},
    ],
    "methods": ["card", "transfer"],
    "grades": ["gold"],
    "first_charge": True,
    "starts_at": "2025-03-01T00:00:00+00:00",
    "ends_at": "2025-04-01T00:00:00+00:00",
    "per_member_limit": 1,
    "bonus_days": 30,
    "priority": 3,
    "stacking": "exclusive",
}


def test_event_rule_round_trips_with_tiers_sorted() -> None:
    rule = parse_event_rule(GOOD_EVENT)
    assert rule.tiers == (Tier(10_000, 500, 0), Tier(50_000, 1000, 1000))
    stored = json.loads(json.dumps(rule.as_json()))
    assert parse_event_rule(stored) == rule
    assert stored["tiers"][0] == {"min_amount": 10_000, "percent_bp": 500, "fixed": 0}
    assert parse_event_rule({"tiers": [{"fixed": 500}]}) == EventRule(
        tiers=(Tier(0, 0, 500),), stacking="stackable"
    )


BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("tiers", None, "tiers"),
    ("tiers", [], "tiers"),
    ("tiers", [{"min_amount": 0}], "tiers[0].percent_bp"),
    ("tiers", [{"min_amount": 0, "fixed": 1}, {"min_amount": 0, "fixed": 2}], "tiers"),
    ("tiers", [{"fixed": 1}, {"min_amount": -5, "fixed": 1}], "tiers[1].min_amount"),
    ("tiers", [{"percent_bp": 10_001}], "tiers[0].percent_bp"),
    ("tiers", ["10%"], "tiers[0]"),
    ("methods", ["cheque"], "methods"),
    ("ends_at", "2025-02-01T00:00:00+00:00", "ends_at"),
    ("starts_at", "2025-03-01T00:00:00", "starts_at"),
    ("per_member_limit", 0, "per_member_limit"),
    ("bonus_days", 0, "bonus_days"),
    ("stacking", "both", "stacking"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    BAD_EVENTS,
    ids=[f"{i:02d}-{b[2]}" for i, b in enumerate(BAD_EVENTS)],
)
def test_bad_event_rule_names_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_event_rule(_with(path, value, GOOD_EVENT))
    assert caught.value.code == "invalid_rule"
    assert caught.value.details == {"field": field}
