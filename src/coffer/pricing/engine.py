"""The quote engine: the price of some lines for one member now, line by line, explained.

Pure: no I/O, no clock (``now`` is given). The rules are in ``docs/pricing.md`` ("The quote
engine"); in short:

1. A policy is *eligible* for a line when it is in its time window, for the member's grade,
   not first-purchase-only for a returning member, not used up by the member, has budget left,
   the line is in its scope with at least ``min_quantity`` units, and the list-price subtotal of
   the purchase's lines in its scope reaches ``min_amount``.
2. Per line, the options are each eligible exclusive policy alone and all eligible stackable
   policies together (highest priority first, then the smallest key), each working on what is
   left of the line. The option that takes off the most wins (:func:`coffer.pricing.choice.best`).
3. A policy's discounts in one quote together stay within its ``budget_left``: the first lines
   (in input order) get it in full, the line that reaches the cap gets the rest.
4. A discount coupon then works on what is left of each line in its scope.
5. Every discount lies in ``[0, what is left of the line]``: a line never costs less than zero
   nor more than its list amount.

The result does not depend on the order of ``rules``: everything is sorted by its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coffer.pricing.choice import Option, best, money, percent, stacking_order, unique_keys
from coffer.pricing.model import (
    ActiveRule,
    Applied,
    CashDraw,
    DiscountRule,
    Effect,
    MemberFacts,
    PricedLine,
    PricedQuote,
    QuoteItem,
    RuleKey,
    Scope,
)

CONSUMPTION_ORDERS = ("bonus_first", "paid_first")

#: Why a live rule took nothing off (the ``reason`` of a skipped :class:`Applied`).
NOT_FOR_THESE_PRODUCTS = "not for these products"
BETTER_OFFER = "a better offer applied"
NOTHING_OFF = "nothing off at this price"
NOTHING_LEFT = "nothing left to take off"
BUDGET_SPENT = "budget spent"
CAPPED = "capped by the budget"


# --- single rules ---------------------------------------------------------------------------


def in_scope(scope: Scope, item: QuoteItem) -> bool:
    """Whether the line is in the scope: any product, the named products, or a named menu
    among the product's menus and their ancestors."""
    if scope.kind == "catalog":
        return True
    if scope.kind == "products":
        return item.product_id in scope.ids
    return bool(item.category_ids & scope.ids)


def effect_amount(effect: Effect, item: QuoteItem, remaining: int) -> int:
    """What ``effect`` takes off a line of which ``remaining`` is still to pay, within
    ``[0, remaining]``. ``percent_off`` works on the remaining amount (on the list amount when
    it is the first discount); ``fixed_price`` is measured from the list amount."""
    list_amount = item.unit_price * item.quantity
    if effect.kind == "percent_off":
        amount = remaining * effect.value // 10_000
    elif effect.kind == "amount_off":
        amount = effect.value * item.quantity
    elif effect.kind == "fixed_price":
        amount = list_amount - effect.value * item.quantity
    elif effect.kind == "buy_n_get_m":
        amount = item.quantity // (effect.buy + effect.get) * effect.get * item.unit_price
    else:
        raise ValueError(f"Unknown effect kind {effect.kind!r}.")
    return max(0, min(amount, remaining))


def describe(effect: Effect) -> str:
    """The effect in a few English words: ``10% off``, ``2,000 off each``..."""
    if effect.kind == "percent_off":
        return f"{percent(effect.value)} off"
    if effect.kind == "amount_off":
        return f"{money(effect.value)} off each"
    if effect.kind == "fixed_price":
        return f"fixed price {money(effect.value)} each"
    return f"buy {effect.buy} get {effect.get} free"


def rule_block(active: ActiveRule, member: MemberFacts, now: datetime) -> str | None:
    """Why the rule cannot apply to any line of this member's quote now (None: it may)."""
    rule = active.rule
    conditions = rule.conditions
    if not conditions.in_window(now):
        return "outside its time window"
    if conditions.grades and member.grade not in conditions.grades:
        return "not this grade"
    if conditions.first_purchase and not member.first_purchase:
        return "first purchase only"
    if rule.uses_per_member is not None and active.member_uses >= rule.uses_per_member:
        return f"used up ({active.member_uses} of {rule.uses_per_member})"
    if active.budget_left is not None and active.budget_left <= 0:
        return BUDGET_SPENT
    return None


def could_apply(
    rule: DiscountRule, member: MemberFacts, items: Sequence[QuoteItem], now: datetime
) -> bool:
    """Whether the rule might discount any of these lines for this member now, by the checks
    that need no counts (window, grade, first purchase, scope): a purchase locks the budgets
    of only these, so a budgeted policy for other members or products never queues it."""
    conditions = rule.conditions
    return (
        conditions.in_window(now)
        and (not conditions.grades or member.grade in conditions.grades)
        and (not conditions.first_purchase or member.first_purchase)
        and any(in_scope(rule.scope, item) for item in items)
    )


def scope_subtotal(active: ActiveRule, items: Sequence[QuoteItem]) -> int:
    """The list-price subtotal of the lines in the rule's scope (for ``min_amount``)."""
    scope = active.rule.scope
    return sum(i.unit_price * i.quantity for i in items if in_scope(scope, i))


def line_block(active: ActiveRule, item: QuoteItem, subtotal: int) -> str | None:
    """Why the rule cannot apply to this line (None: it may), the quote-wide checks aside."""
    conditions = active.rule.conditions
    if not in_scope(active.rule.scope, item):
        return NOT_FOR_THESE_PRODUCTS
    if subtotal < conditions.min_amount:
        return f"below the minimum amount {money(conditions.min_amount)}"
    if item.quantity < conditions.min_quantity:
        return f"below the minimum quantity {conditions.min_quantity}"
    return None


# --- one quote ------------------------------------------------------------------------------


@dataclass
class _State:
    """What one quote has used so far, and why rules did not apply (first reason per rule)."""

    budget: dict[RuleKey, int | None]
    applied: set[RuleKey] = field(default_factory=set)
    why_not: dict[RuleKey, str] = field(default_factory=dict)
    #: Eligible somewhere and worth something alone, but not applied there.
    outbid: set[RuleKey] = field(default_factory=set)

    def take(self, active: ActiveRule, item: QuoteItem, remaining: int) -> tuple[int, bool]:
        """The rule's discount on the line and whether the budget cut it."""
        amount = effect_amount(active.rule.effect, item, remaining)
        left = self.budget[active.key]
        if left is not None and amount > left:
            return left, True
        return amount, False


_Parts = tuple[tuple[ActiveRule, int, bool], ...]


def _option(state: _State, stack: Sequence[ActiveRule], item: QuoteItem) -> Option[_Parts]:
    remaining = item.unit_price * item.quantity
    parts: list[tuple[ActiveRule, int, bool]] = []
    for active in stack:
        amount, capped = state.take(active, item, remaining)
        if amount > 0:
            parts.append((active, amount, capped))
            remaining -= amount
    return Option(
        total=sum(p[1] for p in parts),
        max_priority=max(a.rule.priority for a in stack),
        first_key=min(a.key for a in stack),
        parts=tuple(parts),
    )


def _commit(state: _State, active: ActiveRule, amount: int, capped: bool) -> Applied:
    left = state.budget[active.key]
    if left is not None:
        state.budget[active.key] = left - amount
    state.applied.add(active.key)
    reason = describe(active.rule.effect) + (f", {CAPPED}" if capped else "")
    return Applied(active.key, active.name, amount, reason, active.rule.effect, capped)


def _price_line(state: _State, item: QuoteItem, eligible: Sequence[ActiveRule]) -> list[Applied]:
    """The winning option's discounts on one line (policies only)."""
    if not eligible:
        return []
    stackable = [a for a in eligible if a.rule.stacking == "stackable"]
    options = [_option(state, [a], item) for a in eligible if a.rule.stacking != "stackable"]
    if stackable:
        options.append(_option(state, stackable, item))
    winner = best(options)
    assert winner is not None
    won = {p[0].key for p in winner.parts}
    list_amount = item.unit_price * item.quantity
    for active in eligible:
        if active.key not in won and effect_amount(active.rule.effect, item, list_amount) > 0:
            state.outbid.add(active.key)
    return [_commit(state, active, amount, capped) for active, amount, capped in winner.parts]


def _why_not(state: _State, active: ActiveRule, eligible_somewhere: bool, coupon: bool) -> str:
    if active.key in state.why_not:
        return state.why_not[active.key]
    if active.key in state.outbid:
        return NOTHING_LEFT if coupon else BETTER_OFFER
    return NOTHING_OFF if eligible_somewhere else NOT_FOR_THESE_PRODUCTS


def _eligible_lines(
    state: _State, active: ActiveRule, items: Sequence[QuoteItem], member: MemberFacts,
    now: datetime,
) -> list[bool]:  # fmt: skip
    """For each line, whether the rule may apply to it; records the reason when it may not."""
    blocked = rule_block(active, member, now)
    if blocked is not None:
        state.why_not[active.key] = blocked
        return [False] * len(items)
    subtotal = scope_subtotal(active, items)
    reasons = [line_block(active, item, subtotal) for item in items]
    if all(r is not None for r in reasons):
        # Out of scope only when no line is in it; else the minimum the lines in it missed.
        missed = [r for r in reasons if r is not None and r != NOT_FOR_THESE_PRODUCTS]
        state.why_not[active.key] = missed[0] if missed else NOT_FOR_THESE_PRODUCTS
    return [r is None for r in reasons]


def quote(
    items: Sequence[QuoteItem],
    member: MemberFacts,
    rules: Sequence[ActiveRule],
    *,
    now: datetime,
    coupon: ActiveRule | None = None,
    wallet: tuple[int, int, str] | None = None,
) -> PricedQuote:
    """Price ``items`` for ``member`` at ``now`` under the live ``rules`` and an optional
    discount ``coupon``; with ``wallet = (paid_available, bonus_available, consumption_order)``
    also say how the total would be drawn."""
    if coupon is not None and coupon.key.kind != "coupon":
        raise ValueError("The coupon's rule key must be of kind 'coupon'.")
    ordered = sorted(rules, key=lambda a: stacking_order(a.rule.priority, a.key))
    unique_keys([a.key for a in ordered] + ([coupon.key] if coupon is not None else []))
    every = [*ordered, *([coupon] if coupon is not None else [])]
    state = _State(budget={a.key: a.budget_left for a in every})
    eligible = {a.key: _eligible_lines(state, a, items, member, now) for a in every}

    lines_applied: list[list[Applied]] = []
    for index, item in enumerate(items):
        here = [a for a in ordered if eligible[a.key][index]]
        lines_applied.append(_price_line(state, item, here))

    coupon_discount = 0
    if coupon is not None:
        coupon_discount = _apply_coupon(state, coupon, items, eligible[coupon.key], lines_applied)

    lines = tuple(
        _line(item, tuple(applied)) for item, applied in zip(items, lines_applied, strict=True)
    )
    skipped = tuple(
        Applied(a.key, a.name, 0, _why_not(state, a, any(eligible[a.key]), a is coupon))
        for a in sorted(every, key=lambda a: a.key)
        if a.key not in state.applied
    )
    list_total = sum(line.unit_price * line.quantity for line in lines)
    discount = sum(line.discount for line in lines)
    total = list_total - discount
    return PricedQuote(
        lines=lines,
        list_total=list_total,
        discount=discount,
        total=total,
        skipped=skipped,
        coupon_discount=coupon_discount,
        cash=None if wallet is None else cash_draw(total, *wallet),
    )


def _apply_coupon(
    state: _State, coupon: ActiveRule, items: Sequence[QuoteItem], eligible: Sequence[bool],
    lines_applied: list[list[Applied]],
) -> int:  # fmt: skip
    """The coupon on what the policies left of each eligible line; returns its total."""
    total = 0
    for item, ok, applied in zip(items, eligible, lines_applied, strict=True):
        if not ok:
            continue
        list_amount = item.unit_price * item.quantity
        amount, capped = state.take(coupon, item, list_amount - sum(a.amount for a in applied))
        if amount > 0:
            applied.append(_commit(state, coupon, amount, capped))
            total += amount
        elif effect_amount(coupon.rule.effect, item, list_amount) > 0:
            state.outbid.add(coupon.key)
    return total


def _line(item: QuoteItem, applied: tuple[Applied, ...]) -> PricedLine:
    discount = sum(a.amount for a in applied)
    return PricedLine(
        product_id=item.product_id,
        sku=item.sku,
        quantity=item.quantity,
        unit_price=item.unit_price,
        discount=discount,
        amount=item.unit_price * item.quantity - discount,
        applied=applied,
    )


def cash_draw(total: int, paid_available: int, bonus_available: int, order: str) -> CashDraw:
    """How ``total`` would be drawn from a wallet: bonus or paid cash first, and what is short."""
    if order not in CONSUMPTION_ORDERS:
        raise ValueError(f"Unknown consumption order {order!r}.")
    if order == "bonus_first":
        bonus = min(total, max(0, bonus_available))
        paid = min(total - bonus, max(0, paid_available))
    else:
        paid = min(total, max(0, paid_available))
        bonus = min(total - paid, max(0, bonus_available))
    return CashDraw(bonus=bonus, paid=paid, short=total - bonus - paid)


def quote_json(q: PricedQuote) -> dict[str, Any]:
    """The quote as stored with a purchase and answered by ``POST /api/v1/quotes``."""
    return {
        "lines": [
            {
                "product_id": str(line.product_id),
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "list_amount": line.unit_price * line.quantity,
                "discount": line.discount,
                "amount": line.amount,
                "applied": [a.as_json() for a in line.applied],
            }
            for line in q.lines
        ],
        "list_total": q.list_total,
        "discount": q.discount,
        "coupon_discount": q.coupon_discount,
        "total": q.total,
        "skipped": [a.as_json() for a in q.skipped],
        "cash": None
        if q.cash is None
        else {"bonus": q.cash.bonus, "paid": q.cash.paid, "short": q.cash.short},
    }
