"""Discount policies as the quote engine sees them, and the accounting of what they gave.

- :func:`active_rules` answers the service's live policies for one member: each at its current
  version, with how many of the member's purchases it has already discounted (``member_uses``:
  distinct purchases with an active use) and what its budget has left. A quote reads the
  budgets as they are; a purchase passes ``lock=True`` and the budget rows are locked (in id
  order) until its transaction ends, so two purchases never both spend the same last won.
- :func:`record` writes one ``policy_uses`` row per (policy, purchase line) with a discount and
  takes each policy's discounts from its budget by the guarded
  :meth:`~coffer.pricing.versioned.RuleStore.spend` (the CHECK backs it up).
- :func:`release` marks the uses of cancelled lines ``released`` (a released use no longer
  counts against ``uses_per_member``) and gives their discounts back to the budgets.

Callers lock the member first (the purchase does), so ``member_uses`` still holds when the
purchase commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from coffer.kernel.ids import uuid7
from coffer.pricing.model import ActiveRule, DiscountRule, PricedLine, RuleKey
from coffer.pricing.tables import policy_uses
from coffer.pricing.versioned import POLICIES, Versioned


def live_policies(conn: Connection, service_id: UUID) -> list[Versioned[DiscountRule]]:
    """The service's active policies (their windows and conditions are the engine's)."""
    return POLICIES.live(conn, service_id)


def member_uses(conn: Connection, member_id: UUID, policy_ids: Iterable[UUID]) -> dict[UUID, int]:
    """How many distinct purchases of the member each policy has discounted (active uses)."""
    ids = sorted(set(policy_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(policy_uses.c.policy_id, func.count(func.distinct(policy_uses.c.purchase_id)))
        .where(
            policy_uses.c.policy_id.in_(ids),
            policy_uses.c.member_id == member_id,
            policy_uses.c.status == "active",
        )
        .group_by(policy_uses.c.policy_id)
    )
    return {row[0]: int(row[1]) for row in rows}


def active_rules(
    conn: Connection,
    service_id: UUID,
    member_id: UUID,
    now: datetime,
    *,
    lock: Callable[[DiscountRule], bool] | None = None,
    live: Sequence[Versioned[DiscountRule]] | None = None,
) -> list[ActiveRule]:
    """The live policies as engine input for this member, in id order.

    ``lock`` (a purchase; a quote reads without locking): lock the budget rows of the
    policies with a budget for which it answers true (those that could apply to the
    purchase). ``live``: the policies already read by :func:`live_policies` (read again
    otherwise).
    """
    policies = list(live) if live is not None else live_policies(conn, service_id)
    if not policies:
        return []
    capped = [p.id for p in policies if p.rule.uses_per_member is not None]
    uses = member_uses(conn, member_id, capped)  # only a capped rule needs the count
    left: dict[UUID, int | None] = {p.id: p.budget_left for p in policies}
    if lock is not None:
        budgeted = [p.id for p in policies if p.budget is not None and lock(p.rule)]
        left.update(POLICIES.lock_budgets(conn, budgeted))
    return [
        ActiveRule(
            key=RuleKey("policy", p.id, p.version),
            name=p.name,
            rule=p.rule,
            budget_left=left[p.id],
            member_uses=uses.get(p.id, 0),
        )
        for p in sorted(policies, key=lambda p: p.id)
    ]


def record(
    conn: Connection,
    service_id: UUID,
    member_id: UUID,
    purchase_id: UUID,
    lines: Sequence[tuple[UUID, PricedLine]],
    now: datetime,
) -> dict[UUID, int]:
    """Write the policies' uses on a purchase's lines and spend their budgets.

    One row per (policy, line) with a discount; a policy's budget is spent once with the sum
    of its discounts (``policy_budget_spent`` if it no longer holds them: the purchase must
    then roll back). Answers what each policy gave.
    """
    rows: list[dict[str, object]] = []
    given: dict[UUID, int] = defaultdict(int)
    for line_id, line in lines:
        for applied in line.applied:
            if applied.key.kind != "policy" or applied.amount <= 0:
                continue
            rows.append(
                {
                    "id": uuid7(), "service_id": service_id, "policy_id": applied.key.id,
                    "version": applied.key.version, "member_id": member_id,
                    "purchase_id": purchase_id, "line_id": line_id, "discount": applied.amount,
                    "status": "active", "created_at": now, "released_at": None,
                }
            )  # fmt: skip
            given[applied.key.id] += applied.amount
    if not rows:
        return {}
    conn.execute(insert(policy_uses), rows)
    for policy_id in sorted(given):
        POLICIES.spend(conn, policy_id, given[policy_id], now=now)
    return dict(given)


def release(conn: Connection, line_ids: Iterable[UUID], now: datetime) -> dict[UUID, int]:
    """Release the active uses of cancelled lines and give their discounts back to the
    budgets; answers what each policy got back (a line released twice gives nothing twice)."""
    ids = sorted(set(line_ids))
    if not ids:
        return {}
    found = conn.execute(
        select(policy_uses.c.id, policy_uses.c.policy_id, policy_uses.c.discount)
        .where(policy_uses.c.line_id.in_(ids), policy_uses.c.status == "active")
        .order_by(policy_uses.c.id)
    ).all()
    back: dict[UUID, int] = defaultdict(int)
    for use in found:
        done = conn.execute(
            update(policy_uses)
            .where(policy_uses.c.id == use.id, policy_uses.c.status == "active")
            .values(status="released", released_at=now)
        )
        if done.rowcount == 1:
            back[use.policy_id] += use.discount
    for policy_id in sorted(back):
        POLICIES.give_back(conn, policy_id, back[policy_id], now=now)
    return dict(back)
