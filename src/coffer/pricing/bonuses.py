"""Charge events in the database: bonus cash granted on a charge, and clawed back on its refund.

The rules of *which* events give *how much* are the pure engine's (:mod:`coffer.pricing.bonus`);
this module gives it the facts (the live events at their current versions, what each budget
has left, how many bonuses the member already had, whether this is the member's first charge)
and writes what it decided, in the caller's transaction (docs/pricing.md, "Charge events"):

- **Granting** (:func:`grant_for_charge`, called by ``payments.apply`` right after the charge's
  own paid lot is credited): each bonus is a ``bonus`` lot with source ``event``, expiring
  ``bonus_days`` after the charge (or never), and an ``event_bonuses`` row linking it to the
  paid lot that earned it. The budgets of the events that have one are locked first (id order),
  so concurrent charges never give more than a budget holds; the unique ``(event_id,
  paid_lot_id)`` makes a second bonus for one charge impossible. The member's wallet is locked
  by the paid grant before anything here is read, so a member's own charges are counted one at
  a time (per-member limits, first charge).
- **Clawing back** (:func:`claw_back_for_refund`): refunding ``refunded_total`` of a charge of
  ``charge_amount`` owes ``ceil(bonus * refunded_total / charge_amount)`` of each of its
  bonuses (never more than the bonus), less what earlier refunds already took. What the bonus
  lot still has is taken back to ``grants:event``. The service's ``bonus_refund`` setting says
  what happens when the member has spent the bonus:

  - ``pro_rata``: take what is left; the spent part is the service's loss;
  - ``block``: refuse the refund (``bonus_spent_blocks_refund``) before anything is written.

  A bonus lot that has expired has nothing left and never blocks a refund (its cash went to
  breakage, the member did not spend it).
- **Undoing** (:func:`reverse_for_refund`): the PG refused the refund, so each claw-back of that
  refund is reversed (the cash goes back into the bonus lot).
- **Budgets**: a clawed-back bonus goes back to its event's budget only once its refund is
  final (:func:`settle_refund`), so a refund the PG refuses can always put the bonus back
  without overspending the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.kernel.errors import Conflict
from coffer.kernel.ids import uuid7
from coffer.ledger import queries as ledger_queries
from coffer.ledger import service as ledger
from coffer.ledger import takebacks
from coffer.ledger.model import WalletRef
from coffer.ledger.tables import lots
from coffer.pricing import bonus
from coffer.pricing.model import ActiveEvent, ChargeFacts, MemberFacts, RuleKey
from coffer.pricing.tables import bonus_clawbacks, bonus_events, event_bonuses
from coffer.pricing.versioned import EVENTS
from coffer.tenancy.model import Member, Service


@dataclass(frozen=True, slots=True)
class EventBonus:
    """Bonus cash one event gave for one charge, and how much of it refunds took back."""

    id: UUID
    service_id: UUID
    event_id: UUID
    event_name: str
    version: int
    member_id: UUID
    charge_ref: str
    charge_amount: int
    paid_lot_id: UUID
    bonus_lot_id: UUID
    journal_id: UUID
    amount: int
    clawed_back: int
    created_at: datetime
    #: The bonus lot: what it still has, and when it expires (None: never).
    remaining: int
    expires_at: datetime | None

    @classmethod
    def of(cls, row: RowMapping) -> EventBonus:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class PlannedClawback:
    """What a refund takes back of one bonus: ``owed`` by the rule, ``take`` from the lot."""

    bonus: EventBonus
    owed: int
    #: What the bonus lot can give now (0 when it has expired).
    available: int
    take: int


@dataclass(frozen=True, slots=True)
class Clawback:
    id: UUID
    bonus_id: UUID
    refund_ref: str
    journal_id: UUID
    amount: int
    reversal_journal_id: UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventStats:
    """What an event has given: bonuses, their sum, what refunds took back, members."""

    bonuses: int
    issued: int
    clawed_back: int
    members: int

    @property
    def net(self) -> int:
        return self.issued - self.clawed_back


# --- granting -------------------------------------------------------------------------------


def grant_for_charge(
    conn: Connection,
    service: Service,
    member: Member,
    wallet: WalletRef,
    *,
    charge_ref: str,
    amount: int,
    method: str,
    paid_lot_id: UUID,
    now: datetime,
) -> list[EventBonus]:
    """Grant the bonuses the live events give for this charge (none: ``[]``).

    Call it after the charge's paid lot is credited, in the same transaction (the wallet is
    then locked, so the member's facts cannot change under it).
    """
    live = EVENTS.live(conn, service.id)
    if not live:
        return []
    left = EVENTS.lock_budgets(conn, [e.id for e in live if e.budget is not None])
    had = _member_bonus_counts(conn, member.id, [e.id for e in live])
    active = [
        ActiveEvent(
            key=RuleKey("event", e.id, e.version), name=e.name, rule=e.rule,
            budget_left=left.get(e.id) if e.budget is not None else None,
            member_bonuses=had.get(e.id, 0),
        )
        for e in live
    ]  # fmt: skip
    first = not ledger_queries.has_other_charge_lot(conn, member.id, paid_lot_id)
    facts = ChargeFacts(amount, method, now, MemberFacts(grade=member.grade, first_charge=first))
    granted, _skipped = bonus.bonuses(facts, active)
    ids: list[UUID] = []
    for given in granted:
        expires = None if given.bonus_days is None else now + timedelta(days=given.bonus_days)
        lot = ledger.grant(
            conn, wallet, amount=given.amount, kind="bonus", source="event",
            actor=f"event:{given.key.id}", now=now, expires_at=expires,
            reason=f"{given.name} for charge {charge_ref}"[:500], external_id=member.external_id,
        )  # fmt: skip
        EVENTS.spend(conn, given.key.id, given.amount, now=now)
        bonus_id = uuid7()
        conn.execute(
            insert(event_bonuses).values(
                id=bonus_id, service_id=service.id, event_id=given.key.id,
                version=given.key.version, member_id=member.id, charge_ref=charge_ref,
                charge_amount=amount, paid_lot_id=paid_lot_id, bonus_lot_id=lot.lot_id,
                journal_id=lot.journal_id, amount=given.amount, clawed_back=0, created_at=now,
            )
        )  # fmt: skip
        ids.append(bonus_id)
    return _bonuses(conn, event_bonuses.c.id.in_(ids)) if ids else []


def _member_bonus_counts(
    conn: Connection, member_id: UUID, event_ids: Sequence[UUID]
) -> dict[UUID, int]:
    """Bonuses the member has had from each event (clawed-back ones count too)."""
    rows = conn.execute(
        select(event_bonuses.c.event_id, func.count())
        .where(event_bonuses.c.member_id == member_id, event_bonuses.c.event_id.in_(event_ids))
        .group_by(event_bonuses.c.event_id)
    )
    return {event_id: int(count) for event_id, count in rows}


# --- clawing back ---------------------------------------------------------------------------


def owed_for(bonus_amount: int, charge_amount: int, refunded_total: int) -> int:
    """What of a bonus a refund of ``refunded_total`` in all takes back (rounded up)."""
    if charge_amount <= 0:
        return bonus_amount
    share = -(-bonus_amount * refunded_total // charge_amount)  # ceil, integers only
    return max(0, min(bonus_amount, share))


def plan_claw_back(
    conn: Connection,
    rule: str,
    *,
    paid_lot_id: UUID,
    charge_amount: int,
    refunded_total: int,
    now: datetime,
) -> list[PlannedClawback]:
    """What a refund bringing the charge's refunded total to ``refunded_total`` takes back.

    Reads only. ``rule`` is the service's ``bonus_refund``; under ``block`` a bonus whose
    member has spent part of what is owed refuses with ``bonus_spent_blocks_refund``.
    """
    planned: list[PlannedClawback] = []
    for found in bonuses_for_lot(conn, paid_lot_id):
        owed = owed_for(found.amount, charge_amount, refunded_total) - found.clawed_back
        if owed <= 0:
            continue
        expired = found.expires_at is not None and found.expires_at <= now
        available = 0 if expired else found.remaining
        if rule == "block" and not expired and available < owed:
            raise Conflict(
                "bonus_spent_blocks_refund",
                "This charge's bonus has been used, so it cannot be refunded.",
                {
                    "bonus_id": str(found.id), "event_id": str(found.event_id),
                    "owed": owed, "remaining": available,
                },
            )  # fmt: skip
        planned.append(PlannedClawback(found, owed, available, min(owed, available)))
    return planned


def check_refund(
    conn: Connection,
    service: Service,
    *,
    paid_lot_id: UUID,
    charge_amount: int,
    refunded_total: int,
    now: datetime,
) -> list[PlannedClawback]:
    """Refuse a refund the service's rule blocks (before the caller writes anything)."""
    return plan_claw_back(
        conn, service.bonus_refund, paid_lot_id=paid_lot_id, charge_amount=charge_amount,
        refunded_total=refunded_total, now=now,
    )  # fmt: skip


def claw_back_for_refund(
    conn: Connection,
    service: Service,
    wallet: WalletRef,
    *,
    paid_lot_id: UUID,
    charge_amount: int,
    refunded_total: int,
    refund_ref: str,
    actor: str,
    now: datetime,
    external_id: str | None = None,
) -> list[Clawback]:
    """Take back what the refund owes of each bonus the charge earned (see the module doc).

    ``refunded_total``: all of the charge refunded so far, this refund included.
    """
    planned = check_refund(
        conn, service, paid_lot_id=paid_lot_id, charge_amount=charge_amount,
        refunded_total=refunded_total, now=now,
    )  # fmt: skip
    ids: list[UUID] = []
    for plan in planned:
        if plan.take <= 0:
            continue
        found = plan.bonus
        taken = takebacks.claw_back(
            conn, wallet, found.bonus_lot_id, amount=plan.take, reference=f"refund:{refund_ref}",
            actor=actor, now=now, reason=f"{found.event_name}: charge {found.charge_ref} refunded",
            external_id=external_id,
        )  # fmt: skip
        done = conn.execute(
            update(event_bonuses)
            .where(
                event_bonuses.c.id == found.id,
                event_bonuses.c.clawed_back + plan.take <= event_bonuses.c.amount,
            )
            .values(clawed_back=event_bonuses.c.clawed_back + plan.take)
        )
        if done.rowcount != 1:
            raise Conflict("bonus_changed", "The bonus changed under us; try again.")
        clawback_id = uuid7()
        conn.execute(
            insert(bonus_clawbacks).values(
                id=clawback_id, bonus_id=found.id, refund_ref=refund_ref,
                journal_id=taken.journal_id, amount=plan.take, created_at=now,
            )
        )  # fmt: skip
        ids.append(clawback_id)
    return _clawbacks(conn, bonus_clawbacks.c.id.in_(ids)) if ids else []


def reverse_for_refund(
    conn: Connection,
    wallet: WalletRef,
    refund_ref: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    external_id: str | None = None,
) -> list[Clawback]:
    """Put back every bonus a refund clawed back (the PG refused it); returns what was undone."""
    undone: list[Clawback] = []
    for clawback in clawbacks_for_refund(conn, refund_ref):
        if clawback.reversal_journal_id is not None:
            continue
        back = takebacks.reverse_claw_back(
            conn, wallet, clawback.journal_id, actor=actor, now=now, reason=reason,
            external_id=external_id,
        )  # fmt: skip
        conn.execute(
            update(bonus_clawbacks)
            .where(bonus_clawbacks.c.id == clawback.id)
            .values(reversal_journal_id=back.journal_id)
        )
        conn.execute(
            update(event_bonuses)
            .where(event_bonuses.c.id == clawback.bonus_id)
            .values(clawed_back=event_bonuses.c.clawed_back - clawback.amount)
        )
        undone.append(clawback)
    return undone


def settle_refund(conn: Connection, refund_ref: str, *, now: datetime) -> int:
    """The refund is final: what it clawed back returns to the events' budgets. Returns that.

    Call it once per refund, when it is done (the PG cancelled, or a bank refund recorded).
    An event without a budget gets it back too: ``budget_spent`` counts every bonus given
    (``EVENTS.spend``), so a budget set later starts from what the event really gave.
    """
    rows = conn.execute(
        select(event_bonuses.c.event_id, func.sum(bonus_clawbacks.c.amount))
        .join(event_bonuses, event_bonuses.c.id == bonus_clawbacks.c.bonus_id)
        .where(
            bonus_clawbacks.c.refund_ref == refund_ref,
            bonus_clawbacks.c.reversal_journal_id.is_(None),
        )
        .group_by(event_bonuses.c.event_id)
        .order_by(event_bonuses.c.event_id)
    ).all()
    for event_id, total in rows:
        EVENTS.give_back(conn, event_id, int(total), now=now)
    return sum(int(total) for _, total in rows)


# --- reads ----------------------------------------------------------------------------------


def _bonus_query() -> Select[Any]:
    b = event_bonuses
    columns = [
        b.c.id, b.c.service_id, b.c.event_id, bonus_events.c.name.label("event_name"),
        b.c.version, b.c.member_id, b.c.charge_ref, b.c.charge_amount, b.c.paid_lot_id,
        b.c.bonus_lot_id, b.c.journal_id, b.c.amount, b.c.clawed_back, b.c.created_at,
        lots.c.remaining, lots.c.expires_at,
    ]  # fmt: skip
    return (
        select(*columns)
        .join(bonus_events, bonus_events.c.id == b.c.event_id)
        .join(lots, lots.c.id == b.c.bonus_lot_id)
        .order_by(b.c.id)
    )


def _bonuses(conn: Connection, *where: ColumnElement[bool]) -> list[EventBonus]:
    rows = conn.execute(_bonus_query().where(*where)).mappings()
    return [EventBonus.of(row) for row in rows]


def bonuses_for_lot(conn: Connection, paid_lot_id: UUID) -> list[EventBonus]:
    """The bonuses a charge's paid lot earned, oldest first."""
    return _bonuses(conn, event_bonuses.c.paid_lot_id == paid_lot_id)


def bonuses_for_lots(
    conn: Connection, paid_lot_ids: Sequence[UUID]
) -> dict[UUID, list[EventBonus]]:
    """:func:`bonuses_for_lot` for many paid lots at once (lots without bonus are left out)."""
    found: dict[UUID, list[EventBonus]] = {}
    if not paid_lot_ids:
        return found
    for row in _bonuses(conn, event_bonuses.c.paid_lot_id.in_(list(paid_lot_ids))):
        found.setdefault(row.paid_lot_id, []).append(row)
    return found


def event_stats(conn: Connection, event_id: UUID) -> EventStats:
    """How many bonuses the event gave, their sum, what refunds took back, to how many members."""
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(event_bonuses.c.amount), 0),
            func.coalesce(func.sum(event_bonuses.c.clawed_back), 0),
            func.count(func.distinct(event_bonuses.c.member_id)),
        ).where(event_bonuses.c.event_id == event_id)
    ).one()
    return EventStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def clawbacks_for_refund(conn: Connection, refund_ref: str) -> list[Clawback]:
    return _clawbacks(conn, bonus_clawbacks.c.refund_ref == refund_ref)


def _clawbacks(conn: Connection, *where: ColumnElement[bool]) -> list[Clawback]:
    rows = conn.execute(
        select(bonus_clawbacks).where(*where).order_by(bonus_clawbacks.c.id)
    ).mappings()
    return [Clawback(**dict(row)) for row in rows]
