"""What-if for a charge event: replay the last days of credited charges with the draft live.

Rules (docs/simulation.md):

- The charges credited in ``[now - days, now)`` (refunded ones too: the bonus would have been
  given at approval) go through the bonus engine in the order they were approved, at the time
  they were approved, with the member's grade (from the grade history) and ``first_charge``
  as they were then.
- Twice: *before* under the events live now, *after* under the same plus the draft (an event
  being edited, ``exclude_id``, is left out of both).
- Every event starts from a clean slate (its whole budget, no bonuses given) and the replay
  keeps count: each member's bonuses and each budget carry from one charge to the next.

So when the draft goes live over the same data, it gives exactly the simulated bonuses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from coffer.grades import service as grades
from coffer.grades.model import grade_at
from coffer.payments.history import PastCharge, approved_charges_between
from coffer.pricing.bonus import bonuses
from coffer.pricing.model import ActiveEvent, Bonus, ChargeFacts, EventRule, MemberFacts, RuleKey
from coffer.pricing.versioned import EVENTS, rule_budget, rule_name
from coffer.simulation.model import (
    DRAFT_ID,
    EventDay,
    EventSimulation,
    MemberFigure,
    MethodFigure,
    check_days,
)
from coffer.tenancy.model import Service


@dataclass
class _Replay:
    """Events with the budget and per-member bonuses they have given so far in the replay."""

    events: list[tuple[RuleKey, str, EventRule]]
    budget: dict[RuleKey, int | None]
    given: Counter[tuple[RuleKey, UUID]] = field(default_factory=Counter)

    def grant(self, past: PastCharge) -> list[Bonus]:
        active = [
            ActiveEvent(key, name, rule, self.budget[key], self.given[(key, past.member_id)])
            for key, name, rule in self.events
        ]
        member = MemberFacts(grade=past.grade, first_charge=past.first_charge)
        charge = ChargeFacts(past.amount, past.method, past.approved_at, member)
        granted, _skipped = bonuses(charge, active)
        for bonus in granted:
            left = self.budget[bonus.key]
            if left is not None:
                self.budget[bonus.key] = left - bonus.amount
            self.given[(bonus.key, past.member_id)] += 1
        return granted


def simulate_event(
    conn: Connection,
    service: Service,
    rule: EventRule,
    *,
    name: str,
    budget: int | None,
    days: int,
    now: datetime,
    exclude_id: UUID | None = None,
    key: RuleKey | None = None,
) -> EventSimulation:
    """Replay the draft event ``rule`` over the last ``days`` days of credited charges.

    Refusals: ``invalid_days``, ``invalid_name``, ``invalid_amount`` (budget).
    """
    days = check_days(days)
    name, budget = rule_name(name), rule_budget(budget)
    draft = key or RuleKey("event", DRAFT_ID, 1)
    since = now - timedelta(days=days)
    skip = {draft.id, *([exclude_id] if exclude_id is not None else [])}
    live = [e for e in EVENTS.live(conn, service.id) if e.id not in skip]
    live_events = [(RuleKey("event", e.id, e.version), e.name, e.rule) for e in live]
    live_budget = {RuleKey("event", e.id, e.version): e.budget for e in live}
    before = _Replay(list(live_events), dict(live_budget))
    after = _Replay([*live_events, (draft, name, rule)], {**live_budget, draft: budget})

    tally = _Tally(ZoneInfo(service.timezone))
    past = approved_charges_between(conn, service.id, since, now)
    changes = grades.changes_of(conn, {c.member_id for c in past})
    for charge in past:
        charge = replace(charge, grade=grade_at(changes[charge.member_id], charge.grade,
                                                charge.approved_at))  # fmt: skip
        was = sum(b.amount for b in before.grant(charge))
        granted = after.grant(charge)
        mine = sum(b.amount for b in granted if b.key == draft)
        tally.add(charge, was, sum(b.amount for b in granted), mine)
        if tally.spent_at is None and budget is not None and (after.budget[draft] or 0) <= 0:
            tally.spent_at = charge.approved_at
    return tally.result(since, now, days, budget)


@dataclass
class _Tally:
    zone: ZoneInfo
    spent_at: datetime | None = None
    charges: int = 0
    charged: int = 0
    members: set[UUID] = field(default_factory=set)
    bonus_before: int = 0
    bonus_after: int = 0
    days: dict[date, list[int]] = field(default_factory=dict)
    methods: dict[str, list[int]] = field(default_factory=dict)
    by_member: dict[UUID, list[int]] = field(default_factory=dict)
    external: dict[UUID, str] = field(default_factory=dict)

    def add(self, past: PastCharge, before: int, after: int, mine: int) -> None:
        self.charges += 1
        self.charged += past.amount
        self.members.add(past.member_id)
        self.bonus_before += before
        self.bonus_after += after
        figures = (1, int(mine > 0), past.amount, mine)
        for row in (
            self.days.setdefault(past.approved_at.astimezone(self.zone).date(), [0] * 4),
            self.methods.setdefault(past.method, [0] * 4),
        ):
            for index, value in enumerate(figures):
                row[index] += value
        if mine:
            self.external[past.member_id] = past.external_id
            figure = self.by_member.setdefault(past.member_id, [0, 0])
            figure[0] += 1
            figure[1] += mine

    def result(
        self, since: datetime, until: datetime, days: int, budget: int | None
    ) -> EventSimulation:
        members = sorted(
            (
                MemberFigure(mid, self.external[mid], count, amount)
                for mid, (count, amount) in self.by_member.items()
            ),
            key=lambda m: (-m.amount, m.external_id),
        )
        return EventSimulation(
            since=since, until=until, days=days, charges=self.charges, charged=self.charged,
            earning=sum(d[1] for d in self.days.values()), members=len(self.members),
            members_affected=len(self.by_member), bonus=sum(d[3] for d in self.days.values()),
            bonus_before=self.bonus_before, bonus_after=self.bonus_after, budget=budget,
            budget_spent_at=self.spent_at,
            by_day=tuple(EventDay(day, *row) for day, row in sorted(self.days.items())),
            by_method=tuple(
                MethodFigure(method, *row) for method, row in sorted(self.methods.items())
            ),
            by_member=tuple(members),
        )  # fmt: skip
