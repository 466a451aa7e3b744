"""Charge events give bonus cash when a charge is approved (both databases).

Each event type gives exactly the bonus lot its rule says, with its expiry, linked to the paid
lot that earned it; a repeated approval gives nothing more.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coffer import app
from coffer.db.transaction import Database
from coffer.grades import service as grades
from coffer.kernel.clock import ManualClock
from coffer.payments.charges import timeline
from coffer.pricing import bonuses
from coffer.pricing.tables import event_bonuses
from coffer.pricing.versioned import EVENTS
from coffer.tenancy import service as tenancy
from tests.integration.bonus_support import (
    Scene,
    balance,
    bonus_lots,
    bonuses_of,
    budget_spent,
    charge,
    new_event,
    new_scene,
)
from tests.integration.charge_support import make_charge
from tests.integration.test_charge_apply import apply, approved
from tests.ledger_helpers import assert_invariants


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Scene:
    return new_scene(db, clock)


def amounts(scene: Scene, external_id: str) -> list[int]:
    return [lot.amount for lot in bonus_lots(scene, external_id)]


def test_a_percent_event_gives_a_bonus_lot_linked_to_the_paid_lot(scene: Scene) -> None:
    event = new_event(
        scene, {"tiers": [{"min_amount": 0, "percent_bp": 1000}], "bonus_days": 30}, name="Spring"
    )
    now = scene.clock.now()
    done = charge(scene, "m0", 12_345)
    (lot,) = bonus_lots(scene, "m0")
    assert (lot.kind, lot.source, lot.amount, lot.remaining) == ("bonus", "event", 1_234, 1_234)
    assert lot.expires_at == now + timedelta(days=30)
    assert lot.reason == f"Spring for charge {done.id}"
    assert lot.refundable is False
    (given,) = bonuses_of(scene, done)
    assert (given.event_id, given.version, given.amount, given.clawed_back) == (
        event.id, 1, 1_234, 0,
    )  # fmt: skip
    assert (given.paid_lot_id, given.bonus_lot_id) == (done.lot_id, lot.id)
    assert (given.charge_ref, given.charge_amount, given.event_name) == (
        str(done.id), 12_345, "Spring",
    )  # fmt: skip
    assert balance(scene, "m0") == (12_345, 1_234)
    approval = [e for e in scene.db.read(lambda c: timeline(c, done.id)) if e.event == "approved"]
    assert approval[0].detail is not None
    assert approval[0].detail["bonuses"] == [
        {"event_id": str(event.id), "name": "Spring", "amount": 1_234, "lot_id": str(lot.id)}
    ]
    stats = scene.db.read(lambda c: bonuses.event_stats(c, event.id))
    assert (stats.bonuses, stats.issued, stats.clawed_back, stats.members) == (1, 1_234, 0, 1)
    assert_invariants(scene.db)


def test_a_fixed_event_without_days_never_expires(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 5_000, "fixed": 500}]})
    charge(scene, "m0", 4_999)  # below the tier: nothing
    charge(scene, "m0", 5_000)
    (lot,) = bonus_lots(scene, "m0")
    assert (lot.amount, lot.expires_at) == (500, None)
    assert_invariants(scene.db)


def test_tiers_give_the_highest_tier_reached(scene: Scene) -> None:
    new_event(
        scene,
        {
            "tiers": [
                {"min_amount": 10_000, "percent_bp": 500},
                {"min_amount": 30_000, "percent_bp": 1000},
                {"min_amount": 50_000, "percent_bp": 1000, "fixed": 1_000},
            ]
        },
    )
    for amount in (9_999, 10_000, 29_999, 30_000, 50_000):
        charge(scene, "m0", amount)
    assert amounts(scene, "m0") == [500, 1_499, 3_000, 6_000]
    assert_invariants(scene.db)


def test_a_method_filter(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 700}], "methods": ["transfer"]})
    charge(scene, "m0", 10_000, method="card")
    assert amounts(scene, "m0") == []
    charge(scene, "m0", 10_000, method="transfer")
    assert amounts(scene, "m0") == [700]


def test_first_charge_only(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 2_000}], "first_charge": True})
    charge(scene, "m0", 1_000)
    charge(scene, "m0", 1_000)
    charge(scene, "m1", 3_000)
    assert amounts(scene, "m0") == [2_000]
    assert amounts(scene, "m1") == [2_000]


def test_a_charge_opened_earlier_still_is_the_first_charge(scene: Scene) -> None:
    """Only credited charges count: a failed one before does not make this one the second."""
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 2_000}], "first_charge": True})
    make_charge(scene.db, scene.clock, scene.service, "m0", amount=1_000, status="failed")
    charge(scene, "m0", 1_000)
    assert amounts(scene, "m0") == [2_000]


def test_the_time_window(scene: Scene) -> None:
    start = scene.clock.now() + timedelta(days=1)
    new_event(
        scene,
        {
            "tiers": [{"min_amount": 0, "fixed": 100}],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=2)).isoformat(),
        },
    )
    charge(scene, "m0", 1_000)  # before
    scene.clock.set(start)
    charge(scene, "m0", 1_000)  # at the start
    scene.clock.set(start + timedelta(days=2) - timedelta(seconds=1))
    charge(scene, "m0", 1_000)  # the last second
    scene.clock.set(start + timedelta(days=2))
    charge(scene, "m0", 1_000)  # the end is exclusive
    assert amounts(scene, "m0") == [100, 100]


def test_a_per_member_limit(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 100}], "per_member_limit": 2})
    for _ in range(3):
        charge(scene, "m0", 1_000)
    charge(scene, "m1", 1_000)
    assert amounts(scene, "m0") == [100, 100]
    assert amounts(scene, "m1") == [100]


def test_a_grade_filter(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 100}], "grades": ["gold"]})
    scene.db.write(
        lambda c: grades.set_grade(
            c, scene.service.id, tenancy.get_member(c, scene.service.id, "m1"), "gold",
            source="admin", detail=None, actor="t", now=scene.clock.now(),
        )
    )  # fmt: skip
    charge(scene, "m0", 1_000)
    charge(scene, "m1", 1_000)
    assert (amounts(scene, "m0"), amounts(scene, "m1")) == ([], [100])


def test_the_budget_caps_the_last_bonus_then_gives_nothing(scene: Scene) -> None:
    event = new_event(scene, {"tiers": [{"min_amount": 0, "percent_bp": 1000}]}, budget=1_500)
    for member in ("m0", "m1", "m2"):
        charge(scene, member, 10_000)
    assert (amounts(scene, "m0"), amounts(scene, "m1"), amounts(scene, "m2")) == (
        [1_000], [500], [],
    )  # fmt: skip
    assert budget_spent(scene, event.id) == 1_500
    assert_invariants(scene.db)


def test_stackable_events_add_up_and_an_exclusive_one_wins_when_bigger(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "percent_bp": 1000}]}, name="Ten")
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 300}]}, name="Three hundred")
    charge(scene, "m0", 10_000)
    assert sorted(amounts(scene, "m0")) == [300, 1_000]
    new_event(
        scene,
        {"tiers": [{"min_amount": 20_000, "fixed": 5_000}], "stacking": "exclusive"},
        name="Big",
    )
    charge(scene, "m1", 10_000)  # below Big's tier: the stack
    charge(scene, "m2", 20_000)  # Big (5,000) beats the stack (2,000 + 300)
    assert sorted(amounts(scene, "m1")) == [300, 1_000]
    assert amounts(scene, "m2") == [5_000]
    assert_invariants(scene.db)


def test_an_ended_or_draft_event_gives_nothing(scene: Scene) -> None:
    event = new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 100}]})
    scene.db.write(
        lambda c: EVENTS.create(
            c, scene.service.id, name="Draft", rule={"tiers": [{"min_amount": 0, "fixed": 1}]},
            budget=None, actor="t", now=scene.clock.now(),
        )
    )  # fmt: skip
    scene.db.write(lambda c: EVENTS.end(c, scene.service.id, event.id, now=scene.clock.now()))
    charge(scene, "m0", 1_000)
    assert amounts(scene, "m0") == []


def test_a_repeated_approval_gives_no_second_bonus(scene: Scene) -> None:
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 100}]})
    done = charge(scene, "m0", 1_000)
    again = apply(scene.db, scene.clock, done.id, approved(done, payment_key=done.payment_key))
    assert again.status == "approved"
    assert amounts(scene, "m0") == [100]

    # The database itself refuses a second bonus of one event for one paid lot.
    def grant_again(conn: Connection) -> object:
        member = tenancy.get_member(conn, scene.service.id, "m0")
        wallet = app.resolve_wallet(conn, scene.service.id, member.id)
        assert done.lot_id is not None
        return bonuses.grant_for_charge(
            conn, scene.service, member, wallet, charge_ref=str(done.id), amount=1_000,
            method="card", paid_lot_id=done.lot_id, now=scene.clock.now(),
        )  # fmt: skip

    with pytest.raises(IntegrityError):
        scene.db.write(grant_again)
    count = scene.db.read(
        lambda c: c.execute(select(func.count()).select_from(event_bonuses)).scalar_one()
    )
    assert count == 1
    assert balance(scene, "m0") == (1_000, 100)
    assert_invariants(scene.db)


def test_a_revised_event_names_the_version_that_gave_the_bonus(scene: Scene) -> None:
    event = new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 100}]})
    first = charge(scene, "m0", 1_000)
    scene.db.write(
        lambda c: EVENTS.revise(
            c, scene.service.id, event.id, name="Bonus event",
            rule={"tiers": [{"min_amount": 0, "fixed": 200}]}, budget=None, actor="t",
            now=scene.clock.now(),
        )
    )  # fmt: skip
    second = charge(scene, "m0", 1_000)
    assert [(b.version, b.amount) for b in bonuses_of(scene, first)] == [(1, 100)]
    assert [(b.version, b.amount) for b in bonuses_of(scene, second)] == [(2, 200)]
