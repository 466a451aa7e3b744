"""Grade use cases: the rule set, the one way a grade changes, overrides, history, recompute.

Every function runs in the caller's transaction and raises before writing. ``members.grade``
changes only through :func:`set_grade`, which writes a ``grade_history`` row when the grade
changes (and always for an override set or ended, which are events of their own).

The recompute (the daily job ``grades.recompute``, the admin's "recompute now") gives each
member of a service with rules the grade their paid charges earn
(:func:`coffer.grades.model.grade_for` over :func:`coffer.ledger.queries.paid_charges_by_member`),
except members under an override that has not ended; an override past its ``until`` is removed
on the way (history source ``override_ended``). Closed members are left alone. Running it again
at the same moment changes nothing.

Concurrency: an override, its clearing and the recompute lock the member rows first
(``SELECT … FOR UPDATE``, in id order), so the recompute never overwrites an override set
meanwhile; the grade itself moves with a guarded ``UPDATE … WHERE grade = :from``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, RowMapping

from coffer.db.transaction import Database
from coffer.grades.model import GradeChange, GradeRule, deciding_rule, validate_rules, windows
from coffer.grades.tables import GRADE_SOURCES, grade_history, grade_overrides, grade_rules
from coffer.kernel.clock import Clock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.text import is_storable_text
from coffer.ledger.queries import paid_charges_by_member
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member
from coffer.tenancy.tables import members, services

#: Who the daily job acts as.
SYSTEM_ACTOR = "system:grades"
#: Members per recompute transaction.
RECOMPUTE_BATCH = 500
HISTORY_MAX_LIMIT = 200
REASON_MAX = 500
#: Sources whose history row is written even when the grade stays the same.
ALWAYS_RECORDED = ("override", "override_ended")


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    changed: int = 0
    unchanged: int = 0
    skipped_overridden: int = 0

    def __add__(self, other: RecomputeResult) -> RecomputeResult:
        return RecomputeResult(
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            self.skipped_overridden + other.skipped_overridden,
        )


@dataclass(frozen=True, slots=True)
class Override:
    member_id: UUID
    grade: str
    until: datetime | None
    reason: str
    actor: str
    created_at: datetime

    def in_force(self, now: datetime) -> bool:
        return self.until is None or self.until > now


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: UUID
    from_grade: str
    to_grade: str
    source: str
    detail: str | None
    actor: str
    at: datetime


# --- rules ----------------------------------------------------------------------------------


def rules(conn: Connection, service_id: UUID) -> list[GradeRule]:
    """The service's rule set, lowest rank first (empty: the service has no grade rules)."""
    rows = conn.execute(
        select(
            grade_rules.c.grade,
            grade_rules.c.rank,
            grade_rules.c.min_paid,
            grade_rules.c.window_days,
        )
        .where(grade_rules.c.service_id == service_id)
        .order_by(grade_rules.c.rank)
    ).all()
    return [GradeRule(*row) for row in rows]


def set_rules(
    conn: Connection,
    service_id: UUID,
    new_rules: Sequence[GradeRule],
    actor: str,
    now: datetime,
) -> list[GradeRule]:
    """Replace the service's rule set as a whole (``invalid_grade_rules`` before any write).

    Members keep their grades until the next recompute. Edits of one service are serialised
    on its ``services`` row. ``actor`` is for the caller's audit row (rules keep no author).
    """
    del actor  # recorded by the caller's audit row
    ordered = validate_rules(new_rules)
    _lock_service(conn, service_id)
    conn.execute(delete(grade_rules).where(grade_rules.c.service_id == service_id))
    conn.execute(
        insert(grade_rules),
        [
            {
                "id": uuid7(), "service_id": service_id, "grade": rule.grade, "rank": rule.rank,
                "min_paid": rule.min_paid, "window_days": rule.window_days, "created_at": now,
            }
            for rule in ordered
        ],
    )  # fmt: skip
    return ordered


def services_with_rules(conn: Connection) -> list[UUID]:
    rows = conn.execute(
        select(grade_rules.c.service_id).group_by(grade_rules.c.service_id)
    ).scalars()
    return sorted(rows)


def _lock_service(conn: Connection, service_id: UUID) -> None:
    found = conn.execute(
        select(services.c.id).where(services.c.id == service_id).with_for_update()
    ).first()
    if found is None:
        raise NotFound("service_not_found", "No such service.")


# --- the one way a grade changes ------------------------------------------------------------


def set_grade(
    conn: Connection,
    service_id: UUID,
    member: Member,
    grade: str,
    *,
    source: str,
    detail: str | None,
    actor: str,
    now: datetime,
) -> bool:
    """Give ``member`` (as read in this transaction) ``grade``; True when it changed.

    Writes a history row on a change, and for ``override``/``override_ended`` always. A member
    whose grade changed since it was read is ``grade_changed`` (409), nothing written.
    """
    if source not in GRADE_SOURCES:
        raise InvalidInput("invalid_grade_source", f"source must be one of {GRADE_SOURCES}.")
    grade = tenancy.validate_grade(grade)
    changed = grade != member.grade
    if changed and not tenancy.change_member_grade(
        conn, service_id, member.id, grade, from_grade=member.grade, now=now
    ):
        raise Conflict("grade_changed", "The member's grade changed meanwhile; try again.")
    if changed or source in ALWAYS_RECORDED:
        conn.execute(
            insert(grade_history).values(
                id=uuid7(), service_id=service_id, member_id=member.id,
                from_grade=member.grade, to_grade=grade, source=source, detail=detail,
                actor=actor, at=now,
            )
        )  # fmt: skip
    return changed


# --- overrides ------------------------------------------------------------------------------


def get_override(conn: Connection, member_id: UUID) -> Override | None:
    row = (
        conn.execute(select(grade_overrides).where(grade_overrides.c.member_id == member_id))
        .mappings()
        .first()
    )
    return _override(row) if row else None


def _override(row: RowMapping) -> Override:
    return Override(
        row["member_id"], row["grade"], row["until"], row["reason"], row["actor"],
        row["created_at"],
    )  # fmt: skip


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("missing_reason", "A reason is required.")
    value = reason.strip()
    if len(value) > REASON_MAX or not is_storable_text(value, multiline=True):
        raise InvalidInput(
            "invalid_reason", f"reason is at most {REASON_MAX} characters that can be stored."
        )
    return value


def _locked_members(
    conn: Connection, service_id: UUID, member_ids: Sequence[UUID] | None
) -> list[Member]:
    """The service's members that are not closed (all, or those of ``member_ids``), locked."""
    query = select(members).where(members.c.service_id == service_id, members.c.status != "closed")
    if member_ids is not None:
        query = query.where(members.c.id.in_(list(member_ids)))
    rows = conn.execute(query.order_by(members.c.id).with_for_update()).mappings()
    return [Member(**row) for row in rows]


def _locked_member(conn: Connection, service_id: UUID, member_id: UUID) -> Member:
    found = _locked_members(conn, service_id, [member_id])
    if not found:
        raise NotFound("member_not_found", "No such member in this service.")
    return found[0]


def override(
    conn: Connection,
    service_id: UUID,
    member: Member,
    grade: str,
    *,
    until: datetime | None,
    reason: str,
    actor: str,
    now: datetime,
) -> Override:
    """Set the member's grade by hand; the recompute leaves it until ``until`` (None: for good).

    Replaces any earlier override. With a rule set, the grade must be one of its grades
    (``unknown_grade``); ``until`` must be in the future (``invalid_until``); a reason is
    required (``missing_reason``/``invalid_reason``).
    """
    grade = tenancy.validate_grade(grade)
    reason = _reason(reason)
    if until is not None and until <= now:
        raise InvalidInput("invalid_until", "until must be in the future.")
    known = [rule.grade for rule in rules(conn, service_id)]
    if known and grade not in known:
        raise InvalidInput(
            "unknown_grade", f"grade must be one of the service's grades: {', '.join(known)}."
        )
    current = _locked_member(conn, service_id, member.id)
    conn.execute(delete(grade_overrides).where(grade_overrides.c.member_id == current.id))
    made = Override(current.id, grade, until, reason, actor, now)
    conn.execute(
        insert(grade_overrides).values(
            member_id=current.id, service_id=service_id, grade=grade, until=until,
            reason=reason, actor=actor, created_at=now,
        )
    )  # fmt: skip
    set_grade(
        conn, service_id, current, grade, source="override", detail=reason, actor=actor, now=now
    )
    return made


def clear_override(
    conn: Connection, service_id: UUID, member: Member, *, actor: str, now: datetime
) -> str:
    """End the member's override now and give them the grade the rules say (if any); returns
    the member's grade after. No override is ``no_override`` (409)."""
    current = _locked_member(conn, service_id, member.id)
    if get_override(conn, current.id) is None:
        raise Conflict("no_override", "The member has no grade override.")
    conn.execute(delete(grade_overrides).where(grade_overrides.c.member_id == current.id))
    rule_set = rules(conn, service_id)
    grade, why = current.grade, "override cleared"
    if rule_set:
        grade, decided = _earned(conn, service_id, [current], rule_set, now)[current.id]
        why = f"override cleared; {decided}"
    set_grade(
        conn, service_id, current, grade, source="override_ended", detail=why, actor=actor,
        now=now,
    )  # fmt: skip
    return grade


# --- reads ----------------------------------------------------------------------------------


def history(conn: Connection, member_id: UUID, limit: int = 20) -> list[HistoryEntry]:
    """The member's grade changes, newest first."""
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise InvalidInput("invalid_limit", f"limit must be from 1 to {HISTORY_MAX_LIMIT}.")
    rows = conn.execute(
        select(
            grade_history.c.id, grade_history.c.from_grade, grade_history.c.to_grade,
            grade_history.c.source, grade_history.c.detail, grade_history.c.actor,
            grade_history.c.at,
        )
        .where(grade_history.c.member_id == member_id)
        .order_by(grade_history.c.at.desc(), grade_history.c.id.desc())
        .limit(limit)
    ).all()  # fmt: skip
    return [HistoryEntry(*row) for row in rows]


def distribution(conn: Connection, service_id: UUID) -> list[tuple[str, int]]:
    """Members (not closed) per grade: the rule set's grades highest rank first (0 when none
    has it), then any other grade in use, by name."""
    rows = conn.execute(
        select(members.c.grade, func.count())
        .where(members.c.service_id == service_id, members.c.status != "closed")
        .group_by(members.c.grade)
    ).all()
    counts = {str(grade): int(count) for grade, count in rows}
    ranked = [rule.grade for rule in reversed(rules(conn, service_id))]
    others = sorted(grade for grade in counts if grade not in ranked)
    return [(grade, counts.get(grade, 0)) for grade in [*ranked, *others]]


# --- recompute ------------------------------------------------------------------------------


def _earned(
    conn: Connection,
    service_id: UUID,
    found: Sequence[Member],
    rule_set: Sequence[GradeRule],
    now: datetime,
) -> dict[UUID, tuple[str, str]]:
    """Per member: the grade the rules give and why (``paid N over D days``)."""
    ids = [member.id for member in found]
    totals = {
        days: paid_charges_by_member(conn, service_id, now - timedelta(days=days), ids)
        for days in windows(rule_set)
    }
    earned = {}
    for member in found:
        paid = {days: by_member.get(member.id, 0) for days, by_member in totals.items()}
        rule = deciding_rule(paid, rule_set)
        earned[member.id] = (
            rule.grade,
            f"paid {paid[rule.window_days]} over {rule.window_days} days "
            f"(rank {rule.rank}, needs {rule.min_paid})",
        )
    return earned


def recompute(
    conn: Connection,
    service_id: UUID,
    now: datetime,
    *,
    member_ids: Sequence[UUID] | None = None,
    actor: str = SYSTEM_ACTOR,
) -> RecomputeResult:
    """Give the service's members (all, or ``member_ids``) the grade their paid charges earn.

    Members with an override in force are skipped; an override past its ``until`` is removed
    and the member regraded (history ``override_ended``). Without rules, nothing happens.
    """
    rule_set = rules(conn, service_id)
    if not rule_set:
        return RecomputeResult()
    found = _locked_members(conn, service_id, member_ids)
    if not found:
        return RecomputeResult()
    overrides = {
        row["member_id"]: _override(row)
        for row in conn.execute(
            select(grade_overrides).where(
                grade_overrides.c.member_id.in_([member.id for member in found])
            )
        ).mappings()
    }
    skipped = sum(1 for o in overrides.values() if o.in_force(now))
    due = [m for m in found if m.id not in overrides or not overrides[m.id].in_force(now)]
    earned = _earned(conn, service_id, due, rule_set, now)
    changed = unchanged = 0
    for member in due:
        grade, why = earned[member.id]
        source = "rule"
        ended = overrides.get(member.id)
        if ended is not None:
            conn.execute(delete(grade_overrides).where(grade_overrides.c.member_id == member.id))
            source = "override_ended"
            until = ended.until.isoformat() if ended.until else ""
            why = f"override until {until} ended; {why}"
        moved = set_grade(
            conn, service_id, member, grade, source=source, detail=why, actor=actor, now=now
        )
        changed, unchanged = changed + moved, unchanged + (not moved)
    return RecomputeResult(changed, unchanged, skipped)


def _member_page(conn: Connection, service_id: UUID, after: UUID | None, limit: int) -> list[UUID]:
    query = select(members.c.id).where(
        members.c.service_id == service_id, members.c.status != "closed"
    )
    if after is not None:
        query = query.where(members.c.id > after)
    return list(conn.execute(query.order_by(members.c.id).limit(limit)).scalars())


def recompute_service(
    db: Database,
    service_id: UUID,
    now: datetime,
    *,
    batch: int = RECOMPUTE_BATCH,
    actor: str = SYSTEM_ACTOR,
) -> RecomputeResult:
    """:func:`recompute` over the whole service, ``batch`` members per transaction."""
    total, after = RecomputeResult(), None

    def page(conn: Connection) -> list[UUID]:
        return _member_page(conn, service_id, after, batch)

    while True:
        ids = db.read(page)
        if not ids:
            return total

        def regrade(conn: Connection, ids: list[UUID] = ids) -> RecomputeResult:
            return recompute(conn, service_id, now, member_ids=ids, actor=actor)

        total += db.write(regrade)
        if len(ids) < batch:
            return total
        after = ids[-1]


def recompute_all(
    db: Database, clock: Clock, *, batch: int | None = None
) -> dict[UUID, RecomputeResult]:
    """The daily job: every service that has rules, at one moment, in batches of ``batch``
    members (default :data:`RECOMPUTE_BATCH`)."""
    now = clock.now()
    size = batch or RECOMPUTE_BATCH
    return {
        service_id: recompute_service(db, service_id, now, batch=size)
        for service_id in db.read(services_with_rules)
    }


def changes_of(conn: Connection, member_ids: Iterable[UUID]) -> dict[UUID, list[GradeChange]]:
    """Every grade change of these members, oldest first (for the grade a member had at a
    past moment: :func:`coffer.grades.model.grade_at`)."""
    ids = sorted(set(member_ids))
    found: dict[UUID, list[GradeChange]] = {member_id: [] for member_id in ids}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(grade_history.c.member_id, grade_history.c.at, grade_history.c.from_grade,
                   grade_history.c.to_grade)
            .where(grade_history.c.member_id.in_(ids[start : start + 500]))
            .order_by(grade_history.c.member_id, grade_history.c.at, grade_history.c.id)
        )  # fmt: skip
        for member_id, at, from_grade, to_grade in rows:
            found[member_id].append(GradeChange(at, from_grade, to_grade))
    return found
