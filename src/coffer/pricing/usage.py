"""What live policies and events have actually given so far (read only; for the pages)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.pricing.tables import event_bonuses, policy_uses


@dataclass(frozen=True, slots=True)
class Usage:
    """Purchases discounted (or bonuses given), to how many members, and how much in all."""

    uses: int
    members: int
    amount: int


def policy_usage(conn: Connection, policy_ids: Iterable[UUID]) -> dict[UUID, Usage]:
    """Per policy, its active uses (released ones no longer count): distinct purchases,
    distinct members, the discount. Policies never used are absent."""
    ids = sorted(set(policy_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(
            policy_uses.c.policy_id,
            func.count(func.distinct(policy_uses.c.purchase_id)),
            func.count(func.distinct(policy_uses.c.member_id)),
            func.sum(policy_uses.c.discount),
        )
        .where(policy_uses.c.policy_id.in_(ids), policy_uses.c.status == "active")
        .group_by(policy_uses.c.policy_id)
    )
    return {row[0]: Usage(int(row[1]), int(row[2]), int(row[3])) for row in rows}


def event_usage(conn: Connection, event_ids: Iterable[UUID]) -> dict[UUID, Usage]:
    """Per event, the bonuses it gave, to how many members, and their sum net of claw-backs
    (one query for all of them). Events that never gave a bonus are absent."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    b = event_bonuses
    rows = conn.execute(
        select(
            b.c.event_id,
            func.count(),
            func.count(func.distinct(b.c.member_id)),
            func.sum(b.c.amount - b.c.clawed_back),
        )
        .where(b.c.event_id.in_(ids))
        .group_by(b.c.event_id)
    )
    return {row[0]: Usage(int(row[1]), int(row[2]), int(row[3])) for row in rows}
