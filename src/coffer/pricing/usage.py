"""What live policies and events have actually given so far (read only; for the pages)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.pricing.bonuses import event_stats
from coffer.pricing.tables import policy_uses


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
    """Per event, the bonuses it gave, to how many members, and their sum net of claw-backs."""
    found: dict[UUID, Usage] = {}
    for event_id in sorted(set(event_ids)):
        stats = event_stats(conn, event_id)
        if stats.bonuses:
            found[event_id] = Usage(stats.bonuses, stats.members, stats.net)
    return found
