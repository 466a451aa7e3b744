"""Worked examples of the quote engine and the charge-event bonus engine (docs/pricing.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from coffer.pricing.bonus import bonuses
from coffer.pricing.engine import quote, quote_json
from coffer.pricing.model import (
    ActiveEvent,
    ActiveRule,
    Applied,
    CashDraw,
    ChargeFacts,
    MemberFacts,
    PricedQuote,
    QuoteItem,
    RuleKey,
    parse_discount_rule,
    parse_event_rule,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
P1, P2, P3 = UUID(int=0x101), UUID(int=0x102), UUID(int=0x103)
ROOT, CHILD, OTHER = UUID(int=0x201), UUID(int=0x202), UUID(int=0x203)
SILVER = MemberFacts(grade="silver")


def item(product: UUID, price: int, quantity: int = 1, menus: tuple[UUID, ...] = ()) -> QuoteItem:
    return QuoteItem(product, f"SKU-{product.int:x}", price, quantity, frozenset(menus))


def key(n: int, kind: str = "policy") -> RuleKey:
    return RuleKey(kind, UUID(int=n), 1)


def policy(
    n: int,
    effect: dict[str, Any],
    *,
    budget: int | None = None,
    uses: int = 0,
    kind: str = "policy",
    **rule: Any,
) -> ActiveRule:
    data = {"effect": effect, **rule}
    return ActiveRule(key(n, kind), f"rule {n}", parse_discount_rule(data), budget, uses)


def pct(bp: int) -> dict[str, Any]:
    return {"kind": "percent_off", "value": bp}


def off(value: int) -> dict[str, Any]:
    return {"kind": "amount_off", "value": value}


def applied(q: PricedQuote) -> list[list[tuple[str, int, str]]]:
    """Per line: (rule name, amount, reason)."""
    return [[(a.name, a.amount, a.reason) for a in line.applied] for line in q.lines]


def skipped(q: PricedQuote) -> list[tuple[str, str]]:
    return [(a.name, a.reason) for a in q.skipped]


def one(
    rules: list[ActiveRule], *items: QuoteItem, member: MemberFacts = SILVER, **kw: Any
) -> PricedQuote:
    return quote(items or (item(P1, 10_000),), member, rules, now=NOW, **kw)


# --- effects --------------------------------------------------------------------------------


def test_percent_off_rounds_down() -> None:
    q = one([policy(1, pct(1000))], item(P1, 10_000, 3), item(P2, 999))
    assert applied(q) == [[("rule 1", 3000, "10% off")], [("rule 1", 99, "10% off")]]
    assert (q.list_total, q.discount, q.total) == (30_999, 3099, 27_900)
    q = one([policy(1, pct(1250))], item(P1, 999))
    assert applied(q) == [[("rule 1", 124, "12.5% off")]]


def test_amount_off_each_unit_never_below_zero() -> None:
    q = one([policy(1, off(2000))], item(P1, 5000, 3))
    assert applied(q) == [[("rule 1", 6000, "2,000 off each")]]
    assert q.lines[0].amount == 9000
    q = one([policy(1, off(7000))], item(P1, 5000, 2))
    assert (q.lines[0].discount, q.lines[0].amount, q.total) == (10_000, 0, 0)


def test_fixed_price_and_no_discount_when_already_cheaper() -> None:
    rule = policy(1, {"kind": "fixed_price", "value": 3000})
    q = one([rule], item(P1, 5000, 2), item(P2, 2000))
    assert applied(q) == [[("rule 1", 4000, "fixed price 3,000 each")], []]
    assert q.total == 8000
    q = one([rule], item(P2, 2000))
    assert applied(q) == [[]]
    assert skipped(q) == [("rule 1", "nothing off at this price")]


def test_buy_n_get_m() -> None:
    rule = policy(1, {"kind": "buy_n_get_m", "buy": 2, "get": 1})
    q = one([rule], item(P1, 1000, 7), item(P2, 1000, 2))
    assert applied(q) == [[("rule 1", 2000, "buy 2 get 1 free")], []]
    assert q.total == 7000


# --- scope and conditions -------------------------------------------------------------------


def test_scope_by_product() -> None:
    rule = policy(1, pct(1000), scope={"kind": "products", "ids": [str(P2)]})
    q = one([rule], item(P1, 10_000), item(P2, 5000))
    assert applied(q) == [[], [("rule 1", 500, "10% off")]]
    q = one([rule], item(P1, 10_000))
    assert skipped(q) == [("rule 1", "not for these products")]


def test_scope_by_menu_subtree() -> None:
    rule = policy(1, pct(1000), scope={"kind": "categories", "ids": [str(ROOT)]})
    # A product under CHILD carries CHILD and its ancestor ROOT.
    q = one([rule], item(P1, 10_000, menus=(CHILD, ROOT)), item(P2, 10_000, menus=(OTHER,)))
    assert applied(q) == [[("rule 1", 1000, "10% off")], []]


def test_grade() -> None:
    rule = policy(1, pct(1000), conditions={"grades": ["gold", "vip"]})
    assert skipped(one([rule])) == [("rule 1", "not this grade")]
    assert one([rule], member=MemberFacts(grade="gold")).discount == 1000


def test_time_window_ends_exclusive() -> None:
    later = policy(1, pct(1000), conditions={"starts_at": (NOW + timedelta(hours=1)).isoformat()})
    ended = policy(2, pct(1000), conditions={"ends_at": NOW.isoformat()})
    started = policy(3, pct(500), conditions={"starts_at": NOW.isoformat()}, stacking="stackable")
    q = one([later, ended, started])
    assert applied(q) == [[("rule 3", 500, "5% off")]]
    assert skipped(q) == [
        ("rule 1", "outside its time window"),
        ("rule 2", "outside its time window"),
    ]


def test_first_purchase_only() -> None:
    rule = policy(1, off(1000), conditions={"first_purchase": True})
    assert skipped(one([rule])) == [("rule 1", "first purchase only")]
    assert one([rule], member=MemberFacts("silver", first_purchase=True)).discount == 1000


def test_min_amount_counts_list_prices_in_scope_only() -> None:
    rule = policy(
        1,
        pct(1000),
        scope={"kind": "products", "ids": [str(P1)]},
        conditions={"min_amount": 30_000},
    )
    q = one([rule], item(P1, 20_000), item(P2, 20_000))
    assert q.discount == 0
    assert skipped(q) == [("rule 1", "below the minimum amount 30,000")]
    q = one([rule], item(P1, 10_000, 3), item(P2, 20_000))
    assert applied(q) == [[("rule 1", 3000, "10% off")], []]


def test_min_quantity_is_per_line() -> None:
    rule = policy(1, off(100), conditions={"min_quantity": 3})
    q = one([rule], item(P1, 1000, 3), item(P2, 1000, 2))
    assert applied(q) == [[("rule 1", 300, "100 off each")], []]
    assert skipped(one([rule], item(P2, 1000, 2))) == [("rule 1", "below the minimum quantity 3")]


def test_uses_per_member() -> None:
    used_up = policy(1, pct(1000), uses_per_member=2, uses=2)
    assert skipped(one([used_up])) == [("rule 1", "used up (2 of 2)")]
    # One use left: the rule discounts every line of this purchase (one use per purchase).
    last = policy(1, pct(1000), uses_per_member=2, uses=1)
    assert one([last], item(P1, 1000), item(P2, 2000)).discount == 300


# --- stacking and priority ------------------------------------------------------------------


def test_stack_beats_smaller_exclusive() -> None:
    exclusive = policy(1, pct(1000))
    flat = policy(2, off(1000), stacking="stackable")
    five = policy(3, pct(500), stacking="stackable")
    q = one([five, exclusive, flat])
    # Stacked by key (same priority): 1,000 off, then 5% of the 9,000 left.
    assert applied(q) == [[("rule 2", 1000, "1,000 off each"), ("rule 3", 450, "5% off")]]
    assert skipped(q) == [("rule 1", "a better offer applied")]


def test_bigger_exclusive_beats_stack() -> None:
    rules = [
        policy(1, pct(2000)),
        policy(2, off(1000), stacking="stackable"),
        policy(3, pct(500), stacking="stackable"),
    ]
    q = one(rules)
    assert applied(q) == [[("rule 1", 2000, "20% off")]]
    assert skipped(q) == [
        ("rule 2", "a better offer applied"),
        ("rule 3", "a better offer applied"),
    ]


def test_priority_orders_the_stack() -> None:
    flat = policy(2, off(1000), stacking="stackable")
    five = policy(3, pct(500), stacking="stackable", priority=5)
    assert applied(one([flat, five])) == [
        [("rule 3", 500, "5% off"), ("rule 2", 1000, "1,000 off each")]
    ]


def test_ties_go_to_higher_priority_then_smaller_key() -> None:
    low, high = policy(1, pct(1000), priority=1), policy(2, off(1000), priority=2)
    q = one([low, high])
    assert applied(q) == [[("rule 2", 1000, "1,000 off each")]]
    assert skipped(q) == [("rule 1", "a better offer applied")]
    a, b = policy(7, pct(1000)), policy(4, off(1000))
    assert applied(one([a, b])) == [[("rule 4", 1000, "1,000 off each")]]
    # An exclusive rule and a one-rule stack, equal: the smaller key.
    c, d = policy(5, off(1000), stacking="stackable"), policy(6, pct(1000))
    assert applied(one([d, c])) == [[("rule 5", 1000, "1,000 off each")]]


def test_best_option_is_chosen_per_line() -> None:
    exclusive = policy(1, pct(5000), scope={"kind": "products", "ids": [str(P1)]})
    stack = policy(2, off(1000), stacking="stackable")
    q = one([exclusive, stack], item(P1, 10_000), item(P2, 10_000))
    assert applied(q) == [[("rule 1", 5000, "50% off")], [("rule 2", 1000, "1,000 off each")]]
    assert q.skipped == ()


# --- coupon ---------------------------------------------------------------------------------


def test_coupon_applies_after_policies() -> None:
    coupon = policy(9, pct(1000), kind="coupon")
    q = one([policy(1, pct(1000))], item(P1, 10_000), coupon=coupon)
    assert applied(q) == [[("rule 1", 1000, "10% off"), ("rule 9", 900, "10% off")]]
    assert (q.discount, q.coupon_discount, q.total) == (1900, 900, 8100)


def test_coupon_ignores_stacking_and_scope_limits_it() -> None:
    coupon = policy(9, off(500), kind="coupon", scope={"kind": "products", "ids": [str(P2)]})
    exclusive = policy(1, pct(1000))
    q = one([exclusive], item(P1, 10_000), item(P2, 2000), coupon=coupon)
    assert applied(q) == [
        [("rule 1", 1000, "10% off")],
        [("rule 1", 200, "10% off"), ("rule 9", 500, "500 off each")],
    ]
    assert (q.coupon_discount, q.total) == (500, 10_300)


def test_coupon_that_applies_nowhere_is_skipped() -> None:
    coupon = policy(9, pct(1000), kind="coupon", conditions={"min_amount": 50_000})
    q = one([], item(P1, 40_000), coupon=coupon)
    assert (q.coupon_discount, q.discount) == (0, 0)
    assert [(a.key.kind, a.reason) for a in q.skipped] == [
        ("coupon", "below the minimum amount 50,000")
    ]
    coupon = policy(9, off(500), kind="coupon")
    q = one([policy(1, off(20_000))], item(P1, 10_000), coupon=coupon)
    assert skipped(q) == [("rule 9", "nothing left to take off")]


def test_coupon_must_be_a_coupon() -> None:
    with pytest.raises(ValueError, match="coupon"):
        one([], coupon=policy(9, pct(1000)))


def test_the_same_rule_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        one([policy(1, pct(1000)), policy(1, pct(2000))])


# --- budget ---------------------------------------------------------------------------------


def test_budget_clips_the_line_that_reaches_it() -> None:
    rule = policy(1, off(1000), budget=2500)
    q = one([rule], item(P1, 5000), item(P2, 5000), item(P3, 5000))
    assert applied(q) == [
        [("rule 1", 1000, "1,000 off each")],
        [("rule 1", 1000, "1,000 off each")],
        [("rule 1", 500, "1,000 off each, capped by the budget")],
    ]
    q = one([rule], item(P1, 5000), item(P2, 5000), item(P3, 5000), item(P1, 5000))
    assert [line.discount for line in q.lines] == [1000, 1000, 500, 0]


def test_spent_budget_and_clipped_rule_losing_to_another() -> None:
    assert skipped(one([policy(1, pct(1000), budget=0)])) == [("rule 1", "budget spent")]
    capped = policy(1, off(2000), budget=1000)
    other = policy(2, off(1500))
    q = one([capped, other])
    assert applied(q) == [[("rule 2", 1500, "1,500 off each")]]
    assert skipped(q) == [("rule 1", "a better offer applied")]


# --- cash -----------------------------------------------------------------------------------


def test_cash_draw_both_orders_and_short() -> None:
    lines = (item(P1, 8000),)
    assert one([], *lines).cash is None
    assert one([], *lines, wallet=(5000, 4000, "bonus_first")).cash == CashDraw(4000, 4000, 0)
    assert one([], *lines, wallet=(5000, 4000, "paid_first")).cash == CashDraw(3000, 5000, 0)
    assert one([], *lines, wallet=(1000, 2000, "bonus_first")).cash == CashDraw(2000, 1000, 5000)
    assert one([], *lines, wallet=(1000, 2000, "paid_first")).cash == CashDraw(2000, 1000, 5000)
    with pytest.raises(ValueError, match="order"):
        one([], *lines, wallet=(1000, 2000, "newest_first"))


def test_quote_json() -> None:
    coupon = policy(9, off(100), kind="coupon")
    q = one(
        [policy(1, pct(1000), budget=0)],
        item(P1, 1000, 2),
        coupon=coupon,
        wallet=(0, 1000, "bonus_first"),
    )
    assert quote_json(q) == {
        "lines": [
            {
                "product_id": str(P1),
                "sku": "SKU-101",
                "quantity": 2,
                "unit_price": 1000,
                "list_amount": 2000,
                "discount": 200,
                "amount": 1800,
                "applied": [
                    {
                        "kind": "coupon",
                        "id": str(UUID(int=9)),
                        "version": 1,
                        "name": "rule 9",
                        "amount": 200,
                        "reason": "100 off each",
                        "effect": {"kind": "amount_off", "value": 100, "buy": None, "get": None},
                        "capped": False,
                    },
                ],
            }
        ],
        "list_total": 2000,
        "discount": 200,
        "coupon_discount": 200,
        "total": 1800,
        "skipped": [
            {
                "kind": "policy",
                "id": str(UUID(int=1)),
                "version": 1,
                "name": "rule 1",
                "amount": 0,
                "reason": "budget spent",
                "effect": None,
                "capped": False,
            },
        ],
        "cash": {"bonus": 1000, "paid": 0, "short": 800},
    }


# --- charge-event bonus ---------------------------------------------------------------------


def event(n: int, *, budget: int | None = None, had: int = 0, **rule: Any) -> ActiveEvent:
    rule.setdefault("tiers", [{"min_amount": 0, "percent_bp": 1000}])
    return ActiveEvent(key(n, "event"), f"event {n}", parse_event_rule(rule), budget, had)


def charge(amount: int, method: str = "card", member: MemberFacts = SILVER) -> ChargeFacts:
    return ChargeFacts(amount=amount, method=method, now=NOW, member=member)


def granted(result: tuple[list[Any], list[Applied]]) -> list[tuple[str, int, str]]:
    return [(b.name, b.amount, b.reason) for b in result[0]]


def refused(result: tuple[list[Any], list[Applied]]) -> list[tuple[str, str]]:
    return [(a.name, a.reason) for a in result[1]]


def test_bonus_percent_and_fixed() -> None:
    r = bonuses(charge(50_005), [event(1), event(2, tiers=[{"min_amount": 0, "fixed": 1000}])])
    assert granted(r) == [("event 1", 5000, "10% bonus"), ("event 2", 1000, "1,000 bonus")]
    assert r[0][0].bonus_days is None
    assert bonuses(charge(1000), [event(3, bonus_days=30)])[0][0].bonus_days == 30


def test_bonus_tiers() -> None:
    tiers = [
        {"min_amount": 10_000, "percent_bp": 500},
        {"min_amount": 50_000, "percent_bp": 1000, "fixed": 1000},
    ]
    rule = event(1, tiers=tiers)
    assert granted(bonuses(charge(49_999), [rule])) == [
        ("event 1", 2499, "5% bonus from 10,000 charged")
    ]
    assert granted(bonuses(charge(50_000), [rule])) == [
        ("event 1", 6000, "10% + 1,000 bonus from 50,000 charged")
    ]
    assert refused(bonuses(charge(9999), [rule])) == [("event 1", "below the lowest tier 10,000")]


def test_bonus_filters() -> None:
    card = event(1, methods=["card"])
    first = event(2, first_charge=True)
    gold = event(3, grades=["gold"])
    later = event(4, starts_at=(NOW + timedelta(days=1)).isoformat())
    once = event(5, per_member_limit=1, had=1)
    r = bonuses(charge(10_000, "transfer"), [once, later, gold, first, card])
    assert r[0] == []
    assert refused(r) == [
        ("event 1", "not this payment method"),
        ("event 2", "first charge only"),
        ("event 3", "not this grade"),
        ("event 4", "outside its time window"),
        ("event 5", "used up (1 of 1)"),
    ]
    member = MemberFacts("gold", first_charge=True)
    r = bonuses(charge(10_000, "card", member), [once, later, gold, first, card])
    assert granted(r) == [
        ("event 1", 1000, "10% bonus"),
        ("event 2", 1000, "10% bonus"),
        ("event 3", 1000, "10% bonus"),
    ]


def test_bonus_budget() -> None:
    r = bonuses(charge(5000), [event(1, budget=300), event(2, budget=0)])
    assert granted(r) == [("event 1", 300, "10% bonus, capped by the budget")]
    assert refused(r) == [("event 2", "budget spent")]


def test_bonus_stacking_best_for_the_member() -> None:
    big = event(1, stacking="exclusive", tiers=[{"min_amount": 0, "percent_bp": 2500}])
    a, b = event(2), event(3, tiers=[{"min_amount": 0, "fixed": 1000}])
    r = bonuses(charge(10_000), [a, b, big])
    assert granted(r) == [("event 1", 2500, "25% bonus")]
    assert refused(r) == [
        ("event 2", "a better offer applied"),
        ("event 3", "a better offer applied"),
    ]
    r = bonuses(charge(20_000), [big, b, a])  # 5,000 alone vs 2,000 + 1,000
    assert granted(r) == [("event 1", 5000, "25% bonus")]
    r = bonuses(charge(2000), [big, b, a])  # 500 alone vs 200 + 1,000
    assert granted(r) == [("event 2", 200, "10% bonus"), ("event 3", 1000, "1,000 bonus")]
    assert refused(r) == [("event 1", "a better offer applied")]


def test_bonus_ties_and_zero() -> None:
    low = event(1, stacking="exclusive", priority=1)
    high = event(2, stacking="exclusive", priority=2)
    assert granted(bonuses(charge(1000), [low, high])) == [("event 2", 100, "10% bonus")]
    tiny = event(3, tiers=[{"min_amount": 0, "percent_bp": 100}])
    r = bonuses(charge(50), [tiny])
    assert r[0] == []
    assert refused(r) == [("event 3", "nothing to give on this amount")]
    with pytest.raises(ValueError, match="twice"):
        bonuses(charge(50), [tiny, tiny])
