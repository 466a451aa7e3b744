"""What-if for a discount policy: replay the last days of purchases with and without the draft.

Rules (docs/simulation.md):

- The purchases of ``[now - days, now)`` (their lines that are not cancelled; rate-card time
  aside) are priced again through the quote engine, in the order they were made, at the time
  they were made, each line at the list price it was bought at.
- Twice: *before* under the policies live now, *after* under the same plus the draft. A policy
  being edited (``exclude_id``) is left out of both, so the draft stands in for it.
- Every policy starts the replay from a clean slate (its whole budget, no uses) and the replay
  keeps count as it goes: each member's uses and each budget carry from one purchase to the
  next, exactly as they would had the rules gone live at the start of the window.
- The member is taken with their grade and ``first_purchase`` as they were at the purchase
  (the grade from the grade history);
  a product with the menus it sits in now. Coupons are not replayed.

So when the draft goes live over the same data, it gives exactly the simulated discount,
purchase by purchase (tests/integration/test_simulation.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from coffer.catalog.categories import ancestors_of_products
from coffer.grades import service as grades
from coffer.grades.model import grade_at
from coffer.pricing.engine import quote
from coffer.pricing.model import (
    ActiveRule,
    DiscountRule,
    MemberFacts,
    PricedQuote,
    QuoteItem,
    RuleKey,
)
from coffer.pricing.versioned import POLICIES, rule_budget, rule_name
from coffer.purchases.history import PastPurchase, purchases_between
from coffer.simulation.model import (
    DRAFT_ID,
    MOST_AFFECTED,
    TOP_PRODUCTS,
    AffectedPurchase,
    MemberFigure,
    PolicyDay,
    PolicySimulation,
    ProductFigure,
    check_days,
)
from coffer.tenancy.model import Service


@dataclass
class _Replay:
    """Rules with the budget and per-member uses they have had so far in the replay."""

    rules: list[tuple[RuleKey, str, DiscountRule]]
    budget: dict[RuleKey, int | None]
    uses: Counter[tuple[RuleKey, UUID]] = field(default_factory=Counter)

    def price(self, past: PastPurchase, items: Sequence[QuoteItem]) -> PricedQuote:
        active = [
            ActiveRule(key, name, rule, self.budget[key], self.uses[(key, past.member_id)])
            for key, name, rule in self.rules
        ]
        facts = MemberFacts(grade=past.grade, first_purchase=past.first_purchase)
        priced = quote(items, facts, active, now=past.created_at)
        for key, amount in given(priced).items():
            left = self.budget[key]
            if left is not None:
                self.budget[key] = left - amount
            self.uses[(key, past.member_id)] += 1
        return priced


def given(priced: PricedQuote) -> dict[RuleKey, int]:
    """What each rule took off the quote."""
    found: dict[RuleKey, int] = defaultdict(int)
    for line in priced.lines:
        for applied in line.applied:
            found[applied.key] += applied.amount
    return found


def simulate_policy(
    conn: Connection,
    service: Service,
    rule: DiscountRule,
    *,
    name: str,
    budget: int | None,
    days: int,
    now: datetime,
    exclude_id: UUID | None = None,
    key: RuleKey | None = None,
) -> PolicySimulation:
    """Replay the draft ``rule`` over the last ``days`` days of the service's purchases.

    ``key`` is the draft's rule key (a saved policy's id and version; default: a fixed id at
    version 1). Refusals: ``invalid_days``, ``invalid_name``, ``invalid_amount`` (budget).
    """
    days = check_days(days)
    name, budget = rule_name(name), rule_budget(budget)
    draft = key or RuleKey("policy", DRAFT_ID, 1)
    since = now - timedelta(days=days)
    skip = {draft.id, *([exclude_id] if exclude_id is not None else [])}
    live = [p for p in POLICIES.live(conn, service.id) if p.id not in skip]
    live_rules = [(RuleKey("policy", p.id, p.version), p.name, p.rule) for p in live]
    live_budget = {RuleKey("policy", p.id, p.version): p.budget for p in live}
    before = _Replay(list(live_rules), dict(live_budget))
    after = _Replay([*live_rules, (draft, name, rule)], {**live_budget, draft: budget})

    past = purchases_between(conn, service.id, since, now)
    changes = grades.changes_of(conn, {p.member_id for p in past})
    past = [replace(p, grade=grade_at(changes[p.member_id], p.grade, p.created_at)) for p in past]
    menus = ancestors_of_products(conn, service.id, {ln.product_id for p in past for ln in p.lines})
    tally = _Tally(ZoneInfo(service.timezone), draft)
    for purchase in past:
        items = [
            QuoteItem(ln.product_id, ln.sku, ln.unit_price, ln.quantity, menus[ln.product_id])
            for ln in purchase.lines
        ]
        tally.add(purchase, before.price(purchase, items), after.price(purchase, items))
        if tally.spent_at is None and budget is not None and (after.budget[draft] or 0) <= 0:
            tally.spent_at = purchase.created_at
    return tally.result(since, now, days, budget)


@dataclass
class _Tally:
    zone: ZoneInfo
    draft: RuleKey
    spent_at: datetime | None = None
    purchases: int = 0
    lines: int = 0
    members: set[UUID] = field(default_factory=set)
    changed: set[UUID] = field(default_factory=set)
    revenue_before: int = 0
    revenue_after: int = 0
    days: dict[date, list[int]] = field(default_factory=dict)
    products: dict[UUID, list[int]] = field(default_factory=dict)
    skus: dict[UUID, str] = field(default_factory=dict)
    affected: list[AffectedPurchase] = field(default_factory=list)
    by_member: dict[UUID, list[int]] = field(default_factory=dict)
    external: dict[UUID, str] = field(default_factory=dict)

    def add(self, past: PastPurchase, before: PricedQuote, after: PricedQuote) -> None:
        self.purchases += 1
        self.lines += len(past.lines)
        self.members.add(past.member_id)
        self.revenue_before += before.total
        self.revenue_after += after.total
        discount = given(after).get(self.draft, 0)
        changed = before.total != after.total
        day = self.days.setdefault(past.created_at.astimezone(self.zone).date(), [0] * 5)
        for index, value in enumerate((1, int(changed), before.total, after.total, discount)):
            day[index] += value
        for line in after.lines:
            mine = sum(a.amount for a in line.applied if a.key == self.draft)
            row = self.products.setdefault(line.product_id, [0, 0, 0])
            row[0] += line.quantity
            row[1] += int(mine > 0)
            row[2] += mine
            self.skus[line.product_id] = line.sku
        if changed or discount:
            self.affected.append(
                AffectedPurchase(
                    past.id, past.member_id, past.external_id, past.created_at, before.total,
                    after.total, discount,
                )
            )  # fmt: skip
        if changed:
            self.changed.add(past.member_id)
        if discount:
            self.external[past.member_id] = past.external_id
            figure = self.by_member.setdefault(past.member_id, [0, 0])
            figure[0] += 1
            figure[1] += discount

    def result(
        self, since: datetime, until: datetime, days: int, budget: int | None
    ) -> PolicySimulation:
        products = sorted(
            (ProductFigure(pid, self.skus[pid], *row) for pid, row in self.products.items()),
            key=lambda f: (-f.discount, f.sku),
        )
        affected = sorted(
            self.affected, key=lambda a: (a.after - a.before, -a.discount, a.created_at)
        )
        members = sorted(
            (
                MemberFigure(mid, self.external[mid], count, amount)
                for mid, (count, amount) in self.by_member.items()
            ),
            key=lambda m: (-m.amount, m.external_id),
        )
        return PolicySimulation(
            since=since, until=until, days=days, purchases=self.purchases, lines=self.lines,
            members=len(self.members), members_affected=len(self.changed),
            purchases_affected=sum(d[1] for d in self.days.values()),
            revenue_before=self.revenue_before, revenue_after=self.revenue_after,
            discount=sum(d[4] for d in self.days.values()), budget=budget,
            budget_spent_at=self.spent_at,
            by_day=tuple(PolicyDay(day, *row) for day, row in sorted(self.days.items())),
            top_products=tuple(p for p in products if p.discount > 0)[:TOP_PRODUCTS],
            most_affected=tuple(affected[:MOST_AFFECTED]),
            by_member=tuple(members),
        )  # fmt: skip
