"""Refusals of grades in the admin's language (unknown codes fall back to the desk's)."""

from __future__ import annotations

from coffer.grades.model import GRADE_MAX, MAX_RANK, MAX_RULES, MAX_WINDOW_DAYS
from coffer.kernel.errors import CofferError
from coffer.web.admin.desk import messages
from coffer.web.admin.desk.forms import Gettext


def rule_problem(problem: str, _: Gettext) -> str:
    """A sentence for ``invalid_grade_rules``' ``details["problem"]``."""
    known = {
        "count": _("A rule set has 1 to %(max)s rules.") % {"max": MAX_RULES},
        "grade": _("A grade is 1 to %(max)s characters, without control characters.")
        % {"max": GRADE_MAX},
        "rank": _("Enter a rank from 0 to %(max)s.") % {"max": MAX_RANK},
        "min_paid": _("Enter zero or more."),
        "window_days": _("Enter a number of days from 1 to %(max)s.") % {"max": MAX_WINDOW_DAYS},
        "duplicate_grade": _("Each grade may appear in one rule only."),
        "duplicate_rank": _("Each rank may appear in one rule only."),
        "base": _("Exactly one rule, the base grade, needs a paid total of 0."),
        "order": _("A higher rank cannot need a smaller paid total than a lower rank."),
    }
    return known.get(problem, _("The grade rules are not valid."))


def explain(error: CofferError, _: Gettext) -> str:
    if error.code == "invalid_grade_rules":
        return rule_problem(str(error.details.get("problem", "")), _)
    known = {
        "unknown_grade": _("Choose one of the service's grades."),
        "invalid_grade": _("A grade is 1 to %(max)s characters, without control characters.")
        % {"max": GRADE_MAX},
        "invalid_until": _("Choose a day from today on."),
        "no_override": _("The member has no grade override."),
        "grade_changed": _("The member's grade changed meanwhile: check it and try again."),
        "missing_reason": _("A reason is required."),
        "invalid_reason": _("Keep the reason to 500 characters without control characters."),
    }
    return known.get(error.code) or messages.explain(error, _)
