"""Discount policies under concurrent purchases, on both databases.

A policy for one purchase per member, raced by one member's threads, discounts exactly one
purchase (the member is locked before its uses are counted); a budget raced by many members is
spent exactly, never overspent (the budget rows are locked before pricing, and the spend is a
guarded UPDATE under a CHECK).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.pricing.tables import discount_policies, policy_uses
from coffer.purchases.model import Purchase
from tests.integration.test_policies import PERCENT_10, Promo, effect_rule
from tests.integration.test_purchase_concurrency import THREADS, _run
from tests.ledger_helpers import assert_invariants


def test_one_use_per_member_under_concurrency(db: Database, clock: ManualClock) -> None:
    promo = Promo(db, clock)
    sword = promo.product("SWORD", price=1_000)
    once = promo.policy("Once each", effect_rule(PERCENT_10, uses_per_member=1))
    alice = promo.member("alice", paid=100_000)
    made: list[Purchase] = []

    def buyer(_slot: int) -> None:
        made.append(promo.buy_with(alice, [(sword.id, 1)]))

    _run(THREADS, buyer)
    assert len(made) == THREADS
    assert sorted(p.total for p in made) == [900] + [1_000] * (THREADS - 1)
    assert promo.uses(once) == [(100, "active")]
    assert promo.balance(alice) == 100_000 - 900 - 1_000 * (THREADS - 1)
    assert_invariants(db)


def test_a_budget_raced_by_twenty_members_is_spent_exactly(
    db: Database, clock: ManualClock
) -> None:
    promo = Promo(db, clock)
    sword = promo.product("SWORD", price=3_000)
    capped = promo.policy(
        "1,000 off", effect_rule({"kind": "amount_off", "value": 1_000}), budget=5_000
    )
    members = [promo.member(f"m{i:02d}", paid=3_000) for i in range(20)]
    made: list[Purchase] = []

    def buyer(slot: int) -> None:
        for account in members[slot::THREADS]:
            made.append(promo.buy_with(account, [(sword.id, 1)]))

    _run(THREADS, buyer)
    assert len(made) == 20
    assert sorted(p.total for p in made) == [2_000] * 5 + [3_000] * 15
    assert promo.current(capped).budget_spent == 5_000
    uses: list[Any] = db.read(
        lambda c: c.execute(select(policy_uses.c.discount, policy_uses.c.member_id)).all()
    )
    assert sorted(u[0] for u in uses) == [1_000] * 5
    assert len({u[1] for u in uses}) == 5
    assert_invariants(db)


def test_a_budget_row_is_locked_only_by_purchases_it_could_discount(
    db: Database, clock: ManualClock
) -> None:
    """While another transaction holds a gold-only policy's budget row, a basic member's
    purchase goes through; a gold member's purchase waits for it (PostgreSQL: SQLite runs one
    writer at a time anyway)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    promo = Promo(db, clock)
    sword = promo.product("SWORD", price=1_000)
    gold_only = promo.policy(
        "Gold 10%", effect_rule(PERCENT_10, conditions={"grades": ["gold"]}), budget=50_000
    )
    basic = promo.member("basic-1", paid=10_000)
    gold = promo.graded("gold-1", "gold", paid=10_000)
    made: dict[str, Purchase] = {}

    def buy(name: str, account: Any) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: made.update({name: promo.buy_with(account, [(sword.id, 1)])})
        )
        thread.start()
        return thread

    with db.engine.connect() as holder, holder.begin():
        holder.execute(
            select(discount_policies.c.id)
            .where(discount_policies.c.id == gold_only.id)
            .with_for_update()
        )
        basic_buy = buy("basic", basic)
        basic_buy.join(timeout=60)
        assert not basic_buy.is_alive()  # never waited on the gold policy's row
        gold_buy = buy("gold", gold)
        gold_buy.join(timeout=1)
        assert gold_buy.is_alive()  # waits for the row the holder has
    gold_buy.join(timeout=60)
    assert (made["basic"].total, made["gold"].total) == (1_000, 900)
    assert promo.current(gold_only).budget_spent == 100
