"""The grade section of the CS member page: current grade, override, history and choices.

Loaded by ``desk.member_view`` in the page's read transaction; the forms post to
``grades.member_actions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from coffer.grades import service as grades
from coffer.grades.service import HistoryEntry, Override
from coffer.tenancy.model import Member

#: How many of the member's latest grade changes the page shows.
GRADE_HISTORY = 20


@dataclass(frozen=True, slots=True)
class MemberGrade:
    grade: str
    #: The override in place, and whether it is still in force (an ended one waits for the
    #: next recompute to be removed).
    override: Override | None
    in_force: bool
    history: list[HistoryEntry]
    #: The grades of the service's rule set, highest rank first (empty: no rules, free text).
    choices: list[str]


def load_member_grade(conn: Connection, member: Member, now: datetime) -> MemberGrade:
    found = grades.get_override(conn, member.id)
    return MemberGrade(
        grade=member.grade,
        override=found,
        in_force=found is not None and found.in_force(now),
        history=grades.history(conn, member.id, GRADE_HISTORY),
        choices=[rule.grade for rule in reversed(grades.rules(conn, member.service_id))],
    )
