"""Properties of the quote engine and the bonus engine over random catalogs, rules and lines.

For any input: a line costs between zero and its list amount; the parts add up (applied rules
to the line's discount, lines to the totals); the result does not depend on the order the rules
are given in; a rule's budget is never exceeded within one quote or charge; every live rule is
either applied or skipped with a reason, never both.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.pricing.bonus import bonuses
from coffer.pricing.engine import quote
from coffer.pricing.model import (
    ActiveEvent,
    ActiveRule,
    ChargeFacts,
    Conditions,
    DiscountRule,
    Effect,
    EventRule,
    MemberFacts,
    QuoteItem,
    RuleKey,
    Scope,
    Tier,
)

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
PRODUCTS = [UUID(int=0x100 + i) for i in range(4)]
MENUS = [UUID(int=0x200 + i) for i in range(3)]
GRADES = ["gold", "silver"]
PROPERTY = settings(max_examples=200, deadline=None)

times = st.sampled_from([None, NOW - timedelta(days=1), NOW, NOW + timedelta(hours=1)])


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    starts, ends = draw(times), draw(times)
    if starts is not None and ends is not None and ends <= starts:
        return starts, None
    return starts, ends


@st.composite
def items(draw: st.DrawFn) -> QuoteItem:
    index = draw(st.integers(0, len(PRODUCTS) - 1))
    menus = frozenset(MENUS[: index % len(MENUS) + 1])  # a menu and its ancestors
    return QuoteItem(
        product_id=PRODUCTS[index],
        sku=f"SKU-{index}",
        unit_price=draw(st.integers(0, 50_000)),
        quantity=draw(st.integers(1, 12)),
        category_ids=menus,
    )


effects = st.one_of(
    st.builds(Effect, kind=st.just("percent_off"), value=st.integers(1, 10_000)),
    st.builds(Effect, kind=st.just("amount_off"), value=st.integers(1, 60_000)),
    st.builds(Effect, kind=st.just("fixed_price"), value=st.integers(0, 60_000)),
    st.builds(Effect, kind=st.just("buy_n_get_m"), buy=st.integers(1, 4), get=st.integers(1, 3)),
)

scopes = st.one_of(
    st.just(Scope()),
    st.builds(
        Scope, kind=st.just("products"), ids=st.frozensets(st.sampled_from(PRODUCTS), min_size=1)
    ),
    st.builds(
        Scope, kind=st.just("categories"), ids=st.frozensets(st.sampled_from(MENUS), min_size=1)
    ),
)


@st.composite
def discount_rules(draw: st.DrawFn) -> DiscountRule:
    starts, ends = draw(windows())
    conditions = Conditions(
        grades=draw(st.frozensets(st.sampled_from(GRADES))),
        starts_at=starts,
        ends_at=ends,
        first_purchase=draw(st.booleans()),
        min_amount=draw(st.sampled_from([0, 0, 10_000, 100_000])),
        min_quantity=draw(st.integers(1, 4)),
    )
    return DiscountRule(
        scope=draw(scopes),
        conditions=conditions,
        effect=draw(effects),
        priority=draw(st.integers(0, 2)),
        stacking=draw(st.sampled_from(["exclusive", "stackable"])),
        uses_per_member=draw(st.none() | st.integers(1, 3)),
    )


budgets = st.none() | st.integers(0, 30_000)


@st.composite
def active_rules(draw: st.DrawFn, kind: str = "policy") -> list[ActiveRule]:
    numbers = draw(st.lists(st.integers(1, 50), unique=True, max_size=6 if kind == "policy" else 1))
    return [
        ActiveRule(
            key=RuleKey(kind, UUID(int=n), draw(st.integers(1, 2))),
            name=f"{kind} {n}",
            rule=draw(discount_rules()),
            budget_left=draw(budgets),
            member_uses=draw(st.integers(0, 3)),
        )
        for n in numbers
    ]


members = st.builds(
    MemberFacts,
    grade=st.sampled_from(GRADES),
    first_purchase=st.booleans(),
    first_charge=st.booleans(),
)
wallets = st.none() | st.tuples(
    st.integers(0, 500_000),
    st.integers(0, 500_000),
    st.sampled_from(["bonus_first", "paid_first"]),
)


@PROPERTY
@given(
    lines=st.lists(items(), min_size=1, max_size=5),
    member=members,
    rules=active_rules(),
    coupons=active_rules("coupon"),
    wallet=wallets,
    data=st.data(),
)
def test_quote_properties(
    lines: list[QuoteItem],
    member: MemberFacts,
    rules: list[ActiveRule],
    coupons: list[ActiveRule],
    wallet: tuple[int, int, str] | None,
    data: st.DataObject,
) -> None:
    coupon = coupons[0] if coupons else None
    q = quote(lines, member, rules, now=NOW, coupon=coupon, wallet=wallet)

    # Between zero and the list amount, and the parts add up.
    for line in q.lines:
        list_amount = line.unit_price * line.quantity
        assert 0 <= line.amount <= list_amount
        assert line.discount == sum(a.amount for a in line.applied)
        assert line.amount == list_amount - line.discount
        assert all(a.amount > 0 for a in line.applied)
        assert len({a.key for a in line.applied}) == len(line.applied)
    assert q.list_total == sum(line.unit_price * line.quantity for line in q.lines)
    assert q.discount == sum(line.discount for line in q.lines)
    assert q.total == q.list_total - q.discount
    coupon_amounts = [a.amount for line in q.lines for a in line.applied if a.key.kind == "coupon"]
    assert q.coupon_discount == sum(coupon_amounts)

    # Budgets hold within the quote.
    every = [*rules, *coupons]
    used = Counter[RuleKey]()
    for line in q.lines:
        for a in line.applied:
            used[a.key] += a.amount
    for active in every:
        if active.budget_left is not None:
            assert used[active.key] <= active.budget_left

    # Every live rule is applied or skipped (once, with amount 0 and a reason), never both.
    skipped = [a.key for a in q.skipped]
    assert len(set(skipped)) == len(skipped)
    assert set(skipped) | set(used) == {a.key for a in every}
    assert not set(skipped) & set(used)
    assert all(a.amount == 0 and a.reason for a in q.skipped)

    # How the total is drawn adds up too.
    if wallet is not None:
        paid, bonus, _ = wallet
        assert q.cash is not None
        assert q.cash.bonus + q.cash.paid + q.cash.short == q.total
        assert 0 <= q.cash.bonus <= bonus
        assert 0 <= q.cash.paid <= paid
        assert q.cash.short == max(0, q.total - paid - bonus)

    # The order the rules come in does not matter.
    shuffled = data.draw(st.permutations(rules))
    assert quote(lines, member, shuffled, now=NOW, coupon=coupon, wallet=wallet) == q


@st.composite
def event_rules(draw: st.DrawFn) -> EventRule:
    starts, ends = draw(windows())
    minimums = draw(st.lists(st.integers(0, 100_000), min_size=1, max_size=3, unique=True))
    tiers = []
    for minimum in sorted(minimums):
        percent_bp = draw(st.integers(0, 3000))
        fixed = draw(st.integers(0 if percent_bp else 1, 5000))
        tiers.append(Tier(minimum, percent_bp, fixed))
    return EventRule(
        tiers=tuple(tiers),
        methods=draw(st.frozensets(st.sampled_from(["card", "transfer", "mobile"]))),
        grades=draw(st.frozensets(st.sampled_from(GRADES))),
        first_charge=draw(st.booleans()),
        starts_at=starts,
        ends_at=ends,
        per_member_limit=draw(st.none() | st.integers(1, 3)),
        bonus_days=draw(st.none() | st.integers(1, 90)),
        priority=draw(st.integers(0, 2)),
        stacking=draw(st.sampled_from(["exclusive", "stackable"])),
    )


@st.composite
def active_events(draw: st.DrawFn) -> list[ActiveEvent]:
    numbers = draw(st.lists(st.integers(1, 50), unique=True, max_size=6))
    return [
        ActiveEvent(
            key=RuleKey("event", UUID(int=n), 1),
            name=f"event {n}",
            rule=draw(event_rules()),
            budget_left=draw(st.none() | st.integers(0, 10_000)),
            member_bonuses=draw(st.integers(0, 3)),
        )
        for n in numbers
    ]


charges = st.builds(
    ChargeFacts,
    amount=st.integers(1, 300_000),
    method=st.sampled_from(["card", "transfer", "mobile"]),
    now=st.just(NOW),
    member=members,
)


@PROPERTY
@given(charge=charges, events=active_events(), data=st.data())
def test_bonus_properties(
    charge: ChargeFacts, events: list[ActiveEvent], data: st.DataObject
) -> None:
    granted, skipped = bonuses(charge, events)
    by_key = {e.key: e for e in events}
    for bonus in granted:
        active = by_key[bonus.key]
        assert bonus.amount > 0
        if active.budget_left is not None:
            assert bonus.amount <= active.budget_left
        assert bonus.bonus_days == active.rule.bonus_days
        tier = max(
            (t for t in active.rule.tiers if t.min_amount <= charge.amount),
            key=lambda t: t.min_amount,
        )
        full = charge.amount * tier.percent_bp // 10_000 + tier.fixed
        assert bonus.amount == (
            full if active.budget_left is None else min(full, active.budget_left)
        )
    keys = [b.key for b in granted] + [a.key for a in skipped]
    assert sorted(keys) == sorted(by_key)
    assert all(a.amount == 0 and a.reason for a in skipped)
    # Either one exclusive event, or stackable ones only.
    if len(granted) > 1:
        assert all(by_key[b.key].rule.stacking == "stackable" for b in granted)
    assert bonuses(charge, data.draw(st.permutations(events))) == (granted, skipped)
