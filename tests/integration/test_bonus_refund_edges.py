"""Charge events under refunds that go wrong or come in several parts (both databases).

Partial refunds with a refused one in between, a bonus that expires between its claw-back and
the refusal, the budget of an event without one, and a too-large refund under ``block``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict
from coffer.pricing.versioned import EVENTS
from tests.integration.bonus_support import (
    balance,
    bonuses_of,
    budget_spent,
    charge,
    new_event,
    new_scene,
    pg_cancelled,
    pg_refused,
    refund,
    spend,
)
from tests.ledger_helpers import assert_invariants

TEN_PERCENT = {"tiers": [{"min_amount": 0, "percent_bp": 1000}], "bonus_days": 30}


def test_a_refused_refund_between_partial_ones_no_longer_counts(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock)
    event = new_event(scene, {"tiers": [{"min_amount": 0, "percent_bp": 777}]}, budget=5_000)
    done = charge(scene, "m0", 10_000)
    first = refund(scene, done, 4_000)  # 40 %: ceil(310.8)
    pg_cancelled(scene, first.id)
    assert bonuses_of(scene, done)[0].clawed_back == 311
    second = refund(scene, done, 3_000)  # 70 %: ceil(543.9) - 311
    assert bonuses_of(scene, done)[0].clawed_back == 544
    pg_refused(scene, second.id)
    assert bonuses_of(scene, done)[0].clawed_back == 311
    assert balance(scene, "m0") == (6_000, 466)
    third = refund(scene, done, 1_000)  # 50 %, the refused 3,000 left out: ceil(388.5) - 311
    assert bonuses_of(scene, done)[0].clawed_back == 389
    pg_cancelled(scene, third.id)
    assert balance(scene, "m0") == (5_000, 388)
    assert budget_spent(scene, event.id) == 777 - 389
    assert_invariants(db)


def test_a_bonus_expiring_before_the_refusal_goes_to_breakage(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock)
    fixed = {"tiers": [{"min_amount": 0, "fixed": 500}], "bonus_days": 1}
    event = new_event(scene, fixed, budget=5_000)
    done = charge(scene, "m0", 10_000)
    asked = refund(scene, done, 5_000)
    assert bonuses_of(scene, done)[0].clawed_back == 250
    clock.advance(timedelta(days=2))
    pg_refused(scene, asked.id)
    (given,) = bonuses_of(scene, done)
    assert (given.clawed_back, given.remaining) == (0, 0)
    assert balance(scene, "m0") == (10_000, 0)
    again = refund(scene, done)
    assert bonuses_of(scene, done)[0].clawed_back == 0
    pg_cancelled(scene, again.id)
    assert budget_spent(scene, event.id) == 500  # expired, not clawed back: nothing returns
    assert_invariants(db)


def test_an_event_without_budget_keeps_no_total_and_a_later_budget_starts_at_zero(
    db: Database, clock: ManualClock
) -> None:
    """An event without a budget keeps no running total (its row is not a hot row); a budget
    set later counts what is given from then on, and a claw-back never drives it below 0."""
    scene = new_scene(db, clock)
    event = new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    assert budget_spent(scene, event.id) == 0
    asked = refund(scene, done)
    pg_cancelled(scene, asked.id)
    assert budget_spent(scene, event.id) == 0
    db.write(
        lambda c: EVENTS.revise(
            c, scene.service.id, event.id, name=event.name, rule=TEN_PERCENT, budget=1_000,
            actor="admin:t", now=clock.now(),
        )
    )  # fmt: skip
    later = charge(scene, "m1", 10_000)
    assert [b.amount for b in bonuses_of(scene, later)] == [1_000]
    assert budget_spent(scene, event.id) == 1_000
    assert_invariants(db)


def test_too_much_under_block_is_refund_exceeds_unspent(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 500)  # bonus first: 500 of the 1,000 bonus
    with pytest.raises(Conflict) as refused:
        refund(scene, done, 12_000)
    assert refused.value.code == "refund_exceeds_unspent"
    assert refused.value.message == "Only 10000 of this charge is unspent and can be refunded."
    assert balance(scene, "m0") == (10_000, 500)
    refund(scene, done, 5_000)  # 50 % owes 500: the 500 left covers it
    assert bonuses_of(scene, done)[0].clawed_back == 500
    assert balance(scene, "m0") == (5_000, 0)
    assert_invariants(db)
