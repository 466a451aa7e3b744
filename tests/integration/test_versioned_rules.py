"""The versioned rule store shared by discount policies and charge events, on both databases.

Life cycle (draft -> active -> ended), immutable versions (a past version reads back as it was),
refusals that change nothing, and a budget that concurrent spenders can never overdraw.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.pricing.tables import discount_policies, policy_versions
from coffer.pricing.versioned import EVENTS, POLICIES
from tests.ledger_helpers import new_service

TEN_PERCENT: dict[str, Any] = {"effect": {"kind": "percent_off", "value": 1000}}
TWENTY_PERCENT: dict[str, Any] = {"effect": {"kind": "percent_off", "value": 2000}}


def _rows(db: Database) -> tuple[int, int]:
    return db.read(
        lambda c: (
            c.execute(select(func.count()).select_from(discount_policies)).scalar_one(),
            c.execute(select(func.count()).select_from(policy_versions)).scalar_one(),
        )
    )


def test_life_cycle_and_versions(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    now = clock.now()
    draft = db.write(
        lambda c: POLICIES.create(
            c, service.id, name=" Summer ", rule=TEN_PERCENT, budget=None, actor="m", now=now
        )
    )
    assert (draft.name, draft.status, draft.version, draft.rule.effect.value) == (
        "Summer", "draft", 1, 1000,
    )  # fmt: skip

    same = db.write(
        lambda c: POLICIES.revise(
            c, service.id, draft.id, name="Summer", rule=TEN_PERCENT, budget=5000, actor="m",
            now=now,
        )
    )  # fmt: skip
    assert (same.version, same.budget, same.budget_left) == (1, 5000, 5000)  # no new version

    revised = db.write(
        lambda c: POLICIES.revise(
            c, service.id, draft.id, name="Summer", rule=TWENTY_PERCENT, budget=5000,
            actor="m2", now=now,
        )
    )  # fmt: skip
    assert revised.version == 2
    assert revised.rule.effect.value == 2000
    history = db.read(lambda c: POLICIES.history(c, draft.id))
    assert [(v.version, v.rule["effect"]["value"], v.created_by) for v in history] == [
        (1, 1000, "m"), (2, 2000, "m2"),
    ]  # fmt: skip
    assert db.read(lambda c: POLICIES.at_version(c, draft.id, 1)).effect.value == 1000

    assert db.read(lambda c: POLICIES.live(c, service.id)) == []
    active = db.write(lambda c: POLICIES.activate(c, service.id, draft.id, now=now))
    assert active.status == "active"
    assert active.activated_at == now
    assert [r.id for r in db.read(lambda c: POLICIES.live(c, service.id))] == [draft.id]

    with pytest.raises(Conflict) as again:
        db.write(lambda c: POLICIES.activate(c, service.id, draft.id, now=now))
    assert again.value.code == "rule_not_draft"

    ended = db.write(lambda c: POLICIES.end(c, service.id, draft.id, now=now))
    assert ended.status == "ended"
    assert db.read(lambda c: POLICIES.live(c, service.id)) == []
    with pytest.raises(Conflict) as frozen:
        db.write(
            lambda c: POLICIES.revise(
                c, service.id, draft.id, name="x", rule=TEN_PERCENT, budget=None, actor="m",
                now=now,
            )
        )  # fmt: skip
    assert frozen.value.code == "rule_ended"


def test_bad_input_changes_nothing(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    other = new_service(db, clock, name="Other")
    now = clock.now()
    negative = {"effect": {"kind": "fixed_price", "value": -1}}
    for rule, name, budget, code in [
        (negative, "ok", None, "invalid_rule"),
        ({"effect": {"kind": "percent_off", "value": 0}}, "ok", None, "invalid_rule"),
        (TEN_PERCENT, "", None, "invalid_name"),
        (TEN_PERCENT, "ok", -5, "invalid_amount"),
        (TEN_PERCENT, "ok", 1.5, "invalid_amount"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            db.write(
                lambda c, r=rule, n=name, b=budget: POLICIES.create(
                    c, service.id, name=n, rule=r, budget=b, actor="m", now=now
                )
            )
        assert refused.value.code == code
    assert _rows(db) == (0, 0)

    policy = db.write(
        lambda c: POLICIES.create(
            c, service.id, name="p", rule=TEN_PERCENT, budget=1000, actor="m", now=now
        )
    )
    with pytest.raises(NotFound) as foreign:
        db.read(lambda c: POLICIES.get(c, other.id, policy.id))
    assert foreign.value.code == "policy_not_found"
    with pytest.raises(InvalidInput):
        db.write(
            lambda c: POLICIES.revise(
                c, service.id, policy.id, name="p", rule=negative, budget=1000, actor="m",
                now=now,
            )
        )  # fmt: skip
    db.write(lambda c: POLICIES.spend(c, policy.id, 600, now=now))
    with pytest.raises(Conflict) as below:
        db.write(
            lambda c: POLICIES.revise(
                c, service.id, policy.id, name="p", rule=TEN_PERCENT, budget=500, actor="m",
                now=now,
            )
        )  # fmt: skip
    assert below.value.code == "budget_below_spent"
    after = db.read(lambda c: POLICIES.get(c, service.id, policy.id))
    assert (after.version, after.budget, after.budget_spent) == (1, 1000, 600)
    assert _rows(db) == (1, 1)


def test_events_share_the_store(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    event = db.write(
        lambda c: EVENTS.create(
            c, service.id, name="Bonus",
            rule={"tiers": [{"min_amount": 10000, "percent_bp": 1000}]},
            budget=None, actor="m", now=clock.now(),
        )
    )  # fmt: skip
    assert event.rule.tiers[0].percent_bp == 1000
    assert event.rule.stacking == "stackable"
    with pytest.raises(NotFound) as missing:
        db.read(lambda c: EVENTS.get(c, service.id, service.id))
    assert missing.value.code == "event_not_found"


def test_budget_is_never_overdrawn_by_concurrent_spenders(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    now = clock.now()
    policy = db.write(
        lambda c: POLICIES.create(
            c, service.id, name="p", rule=TEN_PERCENT, budget=7000, actor="m", now=now
        )
    )
    taken: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def spender() -> None:
        for _ in range(5):
            try:
                db.write(lambda c: POLICIES.spend(c, policy.id, 1000, now=now))
            except Conflict as error:
                with lock:
                    refused.append(error.code)
            else:
                with lock:
                    taken.append(1000)

    threads = [threading.Thread(target=spender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 7000
    assert len(refused) == 13
    assert set(refused) == {"policy_budget_spent"}
    assert db.read(lambda c: POLICIES.get(c, service.id, policy.id)).budget_left == 0
    db.write(lambda c: POLICIES.give_back(c, policy.id, 2000, now=now))
    assert db.read(lambda c: POLICIES.lock_budgets(c, [policy.id])) == {policy.id: 2000}
