"""Grade rules: which grade a member earns, and which rule sets are refused."""

from __future__ import annotations

import itertools

import pytest

from coffer.grades.model import GradeRule, deciding_rule, grade_for, validate_rules, windows
from coffer.kernel.errors import InvalidInput

BASIC = GradeRule("basic", 0, 0, 90)
SILVER = GradeRule("silver", 10, 100_000, 90)
GOLD = GradeRule("gold", 20, 500_000, 90)
#: A short window: 30 days of at least 600 000.
VIP = GradeRule("vip", 30, 600_000, 30)
RULES = [BASIC, SILVER, GOLD, VIP]


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        ({}, "basic"),
        ({90: 0, 30: 0}, "basic"),
        ({90: 99_999, 30: 99_999}, "basic"),
        ({90: 100_000, 30: 0}, "silver"),
        ({90: 499_999, 30: 499_999}, "silver"),
        ({90: 500_000, 30: 0}, "gold"),
        ({90: 900_000, 30: 599_999}, "gold"),
        ({90: 600_000, 30: 600_000}, "vip"),
        # The 30-day figure alone decides vip, even if the 90-day one were missing.
        ({30: 600_000}, "vip"),
        ({90: 10**12, 30: 10**12}, "vip"),
    ],
)
def test_grade_for_picks_the_highest_rank_met(paid: dict[int, int], expected: str) -> None:
    assert grade_for(paid, RULES) == expected


def test_grade_for_does_not_depend_on_the_order_of_the_rules() -> None:
    for order in itertools.permutations(RULES):
        assert grade_for({90: 550_000, 30: 10}, list(order)) == "gold"
        assert grade_for({90: 700_000, 30: 650_000}, list(order)) == "vip"
        assert grade_for({90: 10, 30: 10}, list(order)) == "basic"


def test_grade_for_is_monotonic_in_the_paid_total() -> None:
    ranks = {rule.grade: rule.rank for rule in RULES}
    last = -1
    for paid in range(0, 1_000_001, 25_000):
        rank = ranks[grade_for({90: paid, 30: paid}, RULES)]
        assert rank >= last
        last = rank
    assert last == 30


def test_the_deciding_rule_and_the_windows() -> None:
    assert deciding_rule({90: 120_000}, RULES) == SILVER
    assert windows(RULES) == [30, 90]


def test_validate_rules_orders_by_rank() -> None:
    assert validate_rules([VIP, BASIC, GOLD, SILVER]) == [BASIC, SILVER, GOLD, VIP]
    assert validate_rules([GradeRule("only", 5, 0, 1)]) == [GradeRule("only", 5, 0, 1)]


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ([], "rules", "A rule set has 1 to 20 rules."),
        ([GradeRule(f"g{i}", i, i, 30) for i in range(21)], "rules", "A rule set has 1 to 20"),
        ([BASIC, GradeRule("", 1, 5, 30)], "grade", "Rule 2: a grade is 1-40 characters"),
        ([BASIC, GradeRule(" gold", 1, 5, 30)], "grade", "Rule 2: a grade"),
        ([BASIC, GradeRule("x" * 41, 1, 5, 30)], "grade", "Rule 2: a grade"),
        ([BASIC, GradeRule("a\x00b", 1, 5, 30)], "grade", "Rule 2: a grade"),
        ([BASIC, GradeRule("gold", -1, 5, 30)], "rank", "Rule 2: rank is from 0 to 1000."),
        ([BASIC, GradeRule("gold", 1001, 5, 30)], "rank", "Rule 2: rank"),
        ([BASIC, GradeRule("gold", True, 5, 30)], "rank", "Rule 2: rank"),
        ([BASIC, GradeRule("gold", 1, -5, 30)], "min_paid", "Rule 2: min_paid is 0 or more."),
        ([BASIC, GradeRule("gold", 1, 2**53 + 1, 30)], "min_paid", "Rule 2: min_paid"),
        ([BASIC, GradeRule("gold", 1, 1.5, 30)], "min_paid", "Rule 2: min_paid"),  # type: ignore[arg-type]
        ([BASIC, GradeRule("gold", 1, 5, 0)], "window_days", "Rule 2: window_days is from 1"),
        ([BASIC, GradeRule("gold", 1, 5, 3661)], "window_days", "Rule 2: window_days"),
        ([BASIC, GradeRule("basic", 1, 5, 30)], "grade", "Each grade appears in one rule only."),
        ([BASIC, GradeRule("gold", 0, 5, 30)], "rank", "Each rank appears in one rule only."),
        ([SILVER, GOLD], "min_paid", "Exactly one rule (the base grade) has min_paid 0."),
        ([BASIC, GradeRule("free", 1, 0, 30)], "min_paid", "Exactly one rule"),
        (
            [BASIC, GradeRule("gold", 20, 100, 30), GradeRule("silver", 10, 200, 30)],
            "min_paid",
            "Grade 'gold' ranks above 'silver' but needs less min_paid (100 < 200).",
        ),
        (
            [GradeRule("top", 0, 10, 30), GradeRule("base", 5, 0, 30)],
            "min_paid",
            "Grade 'base' ranks above 'top' but needs less min_paid (0 < 10).",
        ),
    ],
)
def test_bad_rule_sets_are_refused(rules: list[GradeRule], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_rules(rules)
    assert refused.value.code == "invalid_grade_rules"
    assert refused.value.details["field"] == field
    assert str(refused.value).startswith(message)


def test_equal_min_paid_on_adjacent_ranks_is_allowed() -> None:
    rules = [BASIC, GradeRule("a", 1, 100, 30), GradeRule("b", 2, 100, 60)]
    assert [r.grade for r in validate_rules(rules)] == ["basic", "a", "b"]
    assert grade_for({30: 100, 60: 0}, rules) == "a"
    assert grade_for({30: 0, 60: 100}, rules) == "b"


@pytest.mark.parametrize(
    ("rules", "problem", "index"),
    [
        ([], "count", None),
        ([BASIC, GradeRule("gold", 1, 5, 0)], "window_days", 1),
        ([GradeRule("gold", 1, -1, 30), BASIC], "min_paid", 0),
        ([BASIC, GradeRule("basic", 1, 5, 30)], "duplicate_grade", None),
        ([BASIC, GradeRule("gold", 0, 5, 30)], "duplicate_rank", None),
        ([SILVER], "base", None),
        ([BASIC, GradeRule("a", 2, 5, 30), GradeRule("b", 1, 6, 30)], "order", None),
    ],
)
def test_a_refusal_names_its_problem_and_rule(
    rules: list[GradeRule], problem: str, index: int | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_rules(rules)
    assert refused.value.details["problem"] == problem
    assert refused.value.details.get("index") == index


def test_grade_at_reads_the_history() -> None:
    from datetime import UTC, datetime

    from coffer.grades.model import GradeChange, grade_at

    t = [datetime(2026, 1, day, tzinfo=UTC) for day in range(1, 6)]
    changes = [GradeChange(t[1], "basic", "silver"), GradeChange(t[3], "silver", "gold")]
    assert grade_at(changes, "gold", t[0]) == "basic"  # before any change: the first's from
    assert grade_at(changes, "gold", t[1]) == "silver"  # at a change: its to
    assert grade_at(changes, "gold", t[2]) == "silver"
    assert grade_at(changes, "gold", t[4]) == "gold"
    assert grade_at([], "vip", t[0]) == "vip"  # never changed: the grade now
