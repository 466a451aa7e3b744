"""Changes to grades from the admin web: the grades function, then one audit row.

Each runs in the caller's transaction, so the change and its audit row (actions ``grades.*``)
commit together or not at all; a refusal raises before anything is written. The recompute is
the exception: it runs in batches of members (one transaction each, like the daily job, each
grade change in the member's history under the admin's name) and its audit row, with the
counts, follows in a transaction of its own.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.db.transaction import Database
from coffer.grades import service as grades
from coffer.grades.model import GradeRule
from coffer.grades.service import RecomputeResult
from coffer.tenancy.model import Member
from coffer.web.admin.desk.operator import Operator


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service_id: UUID,
    target: tuple[str, object],
    *,
    before: Any,
    after: Any,
    reason: str = "",
    now: datetime,
) -> None:
    target_type, target_id = target
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        service_id=service_id,
        before=before,
        after=after,
        reason=reason,
        address=who.address,
        now=now,
    )


def set_rules(
    conn: Connection, service_id: UUID, rules: list[GradeRule], *, who: Operator, now: datetime
) -> bool:
    """Replace the rule set; False (nothing written) when it is the same set."""
    before = grades.rules(conn, service_id)
    after = grades.set_rules(conn, service_id, rules, who.audit_actor, now)
    if before == after:
        return False
    _record(
        conn, who, "grades.rules", service_id, ("service", service_id),
        before=[asdict(rule) for rule in before], after=[asdict(rule) for rule in after],
        now=now,
    )  # fmt: skip
    return True


def recompute(db: Database, service_id: UUID, *, who: Operator, now: datetime) -> RecomputeResult:
    """Regrade every member of the service now (batches), then record the counts."""
    result = grades.recompute_service(db, service_id, now, actor=who.journal_actor)
    db.write(
        lambda conn: _record(
            conn, who, "grades.recompute", service_id, ("service", service_id),
            before=None, after=asdict(result), now=now,
        )
    )  # fmt: skip
    return result


def _override_value(found: grades.Override | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"grade": found.grade, "until": found.until, "reason": found.reason}


def override(
    conn: Connection,
    service_id: UUID,
    member: Member,
    grade: str,
    *,
    until: datetime | None,
    reason: str,
    who: Operator,
    now: datetime,
) -> grades.Override:
    before = grades.get_override(conn, member.id)
    made = grades.override(
        conn, service_id, member, grade, until=until, reason=reason, actor=who.journal_actor,
        now=now,
    )  # fmt: skip
    _record(
        conn, who, "grades.override", service_id, ("member", member.id),
        before={"external_id": member.external_id, "grade": member.grade,
                "override": _override_value(before)},
        after={"external_id": member.external_id, "grade": grade,
               "override": _override_value(made)},
        reason=reason, now=now,
    )  # fmt: skip
    return made


def clear_override(
    conn: Connection, service_id: UUID, member: Member, *, reason: str, who: Operator, now: datetime
) -> str:
    """End the override; returns the grade the member has after."""
    before = grades.get_override(conn, member.id)
    grade = grades.clear_override(conn, service_id, member, actor=who.journal_actor, now=now)
    _record(
        conn, who, "grades.override_clear", service_id, ("member", member.id),
        before={"external_id": member.external_id, "grade": member.grade,
                "override": _override_value(before)},
        after={"external_id": member.external_id, "grade": grade, "override": None},
        reason=reason, now=now,
    )  # fmt: skip
    return grade
