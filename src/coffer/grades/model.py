"""Grade rules as plain values, the check of a rule set, and which grade a member earns.

No I/O here. A rule reads "paid charges over the last ``window_days`` days of at least
``min_paid``" (minor units). A member gets the grade of the highest-ranked rule they meet; the
one rule with ``min_paid = 0`` is the base grade everybody meets. A rule set is refused as a
whole (``invalid_grade_rules``, the offending field in ``details``) unless:

- it has 1 to :data:`MAX_RULES` rules, each with a grade of 1-40 storable characters, a rank
  from 0 to :data:`MAX_RANK`, ``min_paid`` from 0 and ``window_days`` from 1 to 3660;
- grades and ranks are unique;
- exactly one rule has ``min_paid = 0`` (the base grade);
- a higher rank never needs less ``min_paid`` than a lower one (so the base is the lowest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT
from coffer.kernel.text import is_storable_text

GRADE_MAX = 40
MAX_RULES = 20
MAX_RANK = 1000
MAX_WINDOW_DAYS = 3660


@dataclass(frozen=True, slots=True)
class GradeRule:
    grade: str
    rank: int
    min_paid: int
    window_days: int


def _refuse(
    message: str, field: str, index: int | None = None, *, problem: str | None = None
) -> InvalidInput:
    """``details``: ``field``, ``problem`` (a stable word for translations: the field's name
    for a bad value, else ``count``, ``duplicate_grade``, ``duplicate_rank``, ``base`` or
    ``order``) and the rule's 0-based ``index`` when one rule is at fault."""
    details: dict[str, object] = {"field": field, "problem": problem or field}
    if index is not None:
        details["index"] = index
    return InvalidInput("invalid_grade_rules", message, details)


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_rules(rules: Sequence[GradeRule]) -> list[GradeRule]:
    """The rules ordered by rank (lowest first), or ``invalid_grade_rules``."""
    if not 1 <= len(rules) <= MAX_RULES:
        raise _refuse(f"A rule set has 1 to {MAX_RULES} rules.", "rules", problem="count")
    for index, rule in enumerate(rules):
        grade = rule.grade
        if (
            not isinstance(grade, str)
            or not grade.strip()
            or grade != grade.strip()
            or len(grade) > GRADE_MAX
            or not is_storable_text(grade)
        ):
            raise _refuse(
                f"Rule {index + 1}: a grade is 1-{GRADE_MAX} characters, without "
                "control characters or spaces around it.",
                "grade",
                index,
            )
        if not _whole(rule.rank, 0, MAX_RANK):
            raise _refuse(f"Rule {index + 1}: rank is from 0 to {MAX_RANK}.", "rank", index)
        if not _whole(rule.min_paid, 0, MAX_AMOUNT):
            raise _refuse(f"Rule {index + 1}: min_paid is 0 or more.", "min_paid", index)
        if not _whole(rule.window_days, 1, MAX_WINDOW_DAYS):
            raise _refuse(
                f"Rule {index + 1}: window_days is from 1 to {MAX_WINDOW_DAYS}.",
                "window_days",
                index,
            )
    if len({rule.grade for rule in rules}) != len(rules):
        raise _refuse("Each grade appears in one rule only.", "grade", problem="duplicate_grade")
    if len({rule.rank for rule in rules}) != len(rules):
        raise _refuse("Each rank appears in one rule only.", "rank", problem="duplicate_rank")
    if sum(1 for rule in rules if rule.min_paid == 0) != 1:
        raise _refuse(
            "Exactly one rule (the base grade) has min_paid 0.", "min_paid", problem="base"
        )
    ordered = sorted(rules, key=lambda rule: rule.rank)
    for lower, higher in pairwise(ordered):
        if higher.min_paid < lower.min_paid:
            raise _refuse(
                f"Grade {higher.grade!r} ranks above {lower.grade!r} but needs less "
                f"min_paid ({higher.min_paid} < {lower.min_paid}).",
                "min_paid",
                problem="order",
            )
    return ordered


def grade_for(paid_by_window: Mapping[int, int], rules: Sequence[GradeRule]) -> str:
    """The grade of the highest-ranked rule whose ``min_paid`` the member's paid total over
    that rule's window reaches (a window missing from ``paid_by_window`` counts as 0).

    ``rules`` must be a valid rule set (:func:`validate_rules`); the base rule always matches.
    """
    for rule in sorted(rules, key=lambda r: r.rank, reverse=True):
        if paid_by_window.get(rule.window_days, 0) >= rule.min_paid:
            return rule.grade
    raise ValueError("a valid rule set has a base rule with min_paid 0")


def windows(rules: Sequence[GradeRule]) -> list[int]:
    """The distinct windows (days) a rule set looks at, shortest first."""
    return sorted({rule.window_days for rule in rules})


def deciding_rule(paid_by_window: Mapping[int, int], rules: Sequence[GradeRule]) -> GradeRule:
    """The rule that :func:`grade_for` picked (for the history's detail)."""
    chosen = grade_for(paid_by_window, rules)
    return next(rule for rule in rules if rule.grade == chosen)


@dataclass(frozen=True, slots=True)
class GradeChange:
    at: datetime
    from_grade: str
    to_grade: str


def grade_at(changes: Sequence[GradeChange], current: str, when: datetime) -> str:
    """The grade a member had at ``when``, from their changes (oldest first) and their grade
    now: the last change's ``to_grade`` at or before ``when``; before the first change, that
    change's ``from_grade``; with no change at all, the grade now."""
    before = [change for change in changes if change.at <= when]
    if before:
        return before[-1].to_grade
    return changes[0].from_grade if changes else current
