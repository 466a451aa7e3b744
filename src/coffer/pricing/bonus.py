"""The charge-event bonus engine: which events give bonus cash for one charge, and how much.

Pure: no I/O, no clock (``charge.now`` is given). Rules (``docs/pricing.md``, "Charge-event
bonus"):

1. An event is *eligible* when the charge is in its time window, paid by one of its methods
   (any, when it names none), by a member of one of its grades (any, when it names none), is
   the member's first charge if the event asks for that, the member has had fewer bonuses from
   it than ``per_member_limit``, its budget is not spent, and the charge reaches its lowest
   tier.
2. Its bonus is the highest tier the charge reaches: ``floor(amount * percent_bp / 10000) +
   fixed``, cut to ``budget_left``.
3. The options are each eligible exclusive event alone and all eligible stackable events
   together; the biggest total bonus wins, ties as in the quote engine
   (:func:`coffer.pricing.choice.best`). A bonus of 0 is not granted.

The result does not depend on the order of ``events``.
"""

from __future__ import annotations

from collections.abc import Sequence

from coffer.pricing.choice import Option, best, money, percent, stacking_order, unique_keys
from coffer.pricing.model import ActiveEvent, Applied, Bonus, ChargeFacts, RuleKey, Tier

BETTER_OFFER = "a better offer applied"
NOTHING_TO_GIVE = "nothing to give on this amount"
CAPPED = "capped by the budget"


def tier_for(tiers: Sequence[Tier], amount: int) -> Tier | None:
    """The highest tier ``amount`` reaches (None: below the lowest)."""
    reached = [t for t in tiers if t.min_amount <= amount]
    return max(reached, key=lambda t: t.min_amount, default=None)


def event_block(active: ActiveEvent, charge: ChargeFacts) -> str | None:
    """Why the event gives nothing for this charge, its amount aside (None: it may give)."""
    rule = active.rule
    if not rule.in_window(charge.now):
        return "outside its time window"
    if rule.methods and charge.method not in rule.methods:
        return "not this payment method"
    if rule.grades and charge.member.grade not in rule.grades:
        return "not this grade"
    if rule.first_charge and not charge.member.first_charge:
        return "first charge only"
    if rule.per_member_limit is not None and active.member_bonuses >= rule.per_member_limit:
        return f"used up ({active.member_bonuses} of {rule.per_member_limit})"
    if active.budget_left is not None and active.budget_left <= 0:
        return "budget spent"
    if tier_for(rule.tiers, charge.amount) is None:
        lowest = min(t.min_amount for t in rule.tiers)
        return f"below the lowest tier {money(lowest)}"
    return None


def _describe(tier: Tier) -> str:
    parts = [percent(tier.percent_bp)] if tier.percent_bp else []
    if tier.fixed:
        parts.append(money(tier.fixed))
    words = " + ".join(parts) + " bonus"
    if tier.min_amount > 0:
        words += f" from {money(tier.min_amount)} charged"
    return words


def bonus_for(active: ActiveEvent, amount: int) -> Bonus:
    """The event's bonus for a charge of ``amount`` that reaches a tier (may be 0)."""
    tier = tier_for(active.rule.tiers, amount)
    if tier is None:
        raise ValueError("The charge reaches no tier of this event.")
    value = amount * tier.percent_bp // 10_000 + tier.fixed
    reason = _describe(tier)
    if active.budget_left is not None and value > active.budget_left:
        value = max(0, active.budget_left)
        reason += f", {CAPPED}"
    return Bonus(active.key, active.name, value, active.rule.bonus_days, reason)


def bonuses(
    charge: ChargeFacts, events: Sequence[ActiveEvent]
) -> tuple[list[Bonus], list[Applied]]:
    """The bonuses ``charge`` earns from the live ``events`` (in stacking order), and the events
    that give nothing, each with the reason (amount 0, by key)."""
    unique_keys(a.key for a in events)
    ordered = sorted(events, key=lambda a: stacking_order(a.rule.priority, a.key))
    why_not: dict[RuleKey, str] = {}
    eligible: list[tuple[ActiveEvent, Bonus]] = []
    for active in ordered:
        blocked = event_block(active, charge)
        if blocked is not None:
            why_not[active.key] = blocked
            continue
        eligible.append((active, bonus_for(active, charge.amount)))

    options: list[Option[tuple[Bonus, ...]]] = [
        Option(b.amount, a.rule.priority, a.key, (b,))
        for a, b in eligible
        if a.rule.stacking != "stackable"
    ]
    stack = [(a, b) for a, b in eligible if a.rule.stacking == "stackable"]
    if stack:
        options.append(
            Option(
                total=sum(b.amount for _, b in stack),
                max_priority=max(a.rule.priority for a, _ in stack),
                first_key=min(a.key for a, _ in stack),
                parts=tuple(b for _, b in stack),
            )
        )
    winner = best(options)
    granted = [] if winner is None else [b for b in winner.parts if b.amount > 0]
    won = {b.key for b in granted}
    for active, bonus in eligible:
        if active.key not in won:
            why_not[active.key] = BETTER_OFFER if bonus.amount > 0 else NOTHING_TO_GIVE
    skipped = [
        Applied(a.key, a.name, 0, why_not[a.key])
        for a in sorted(events, key=lambda a: a.key)
        if a.key not in won
    ]
    return granted, skipped
