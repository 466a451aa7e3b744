"""The charge state machine as data: its shape is the rule, so test the shape."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coffer.payments.states import (
    CHARGE_STATUSES,
    CREDITED_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    may_move,
)

FINAL = {"failed", "expired", "cancelled"}


def test_every_status_has_a_row_and_moves_only_to_known_statuses() -> None:
    assert set(TRANSITIONS) == set(CHARGE_STATUSES)
    for targets in TRANSITIONS.values():
        assert targets <= set(CHARGE_STATUSES)


def test_final_statuses_go_nowhere() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset()  # type: ignore[index]


def test_a_credited_charge_never_goes_back_to_an_uncredited_state() -> None:
    for status in CREDITED_STATUSES:
        assert TRANSITIONS[status] <= CREDITED_STATUSES


def test_only_open_charges_can_be_approved() -> None:
    assert {s for s in CHARGE_STATUSES if may_move(s, "approved")} == OPEN_STATUSES


@given(st.lists(st.sampled_from(CHARGE_STATUSES), max_size=30))
def test_any_sequence_of_messages_credits_at_most_once(messages: list[str]) -> None:
    """Apply arbitrary target states in any order: approved is entered at most once."""
    status = "created"
    credits = 0
    for target in messages:
        if may_move(status, target):
            credits += target == "approved"
            status = target
    assert credits <= 1


def test_unknown_names_are_refused() -> None:
    assert not may_move("created", "bogus")
    assert not may_move("bogus", "approved")
