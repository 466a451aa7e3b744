"""Concurrent purchases on one wallet, crossing gifts and a purchase limit, on both databases.

Many threads buy from one member's wallet until its cash runs out: the wallet never goes below
zero, every success has its entitlement, and successes x price is exactly the cash spent.
Two members gifting each other at once must not deadlock for good (wallets are locked in one
order), and a purchase limit holds under a race.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InsufficientFunds
from coffer.ledger.tables import journals
from coffer.purchases.tables import purchase_lines, purchase_revenue, purchases
from tests.integration.test_purchases import Shop
from tests.ledger_helpers import assert_invariants

THREADS = 8
PRICE = 70


def _run(threads: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(slot: int) -> None:
        try:
            work(slot)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    running = [threading.Thread(target=guarded, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert errors == [], errors


def _scalar(db: Database, query: Any) -> int:
    return int(db.read(lambda c: c.execute(query).scalar_one()))


def test_many_threads_on_one_wallet(db: Database, clock: ManualClock) -> None:
    shop = Shop(db, clock)
    sword = shop.product("SWORD", price=PRICE)
    alice = shop.member("alice", paid=50 * PRICE, bonus=50 * PRICE)
    attempts = 25  # 8 x 25 = 200 attempts for cash that pays 100
    done = [0] * THREADS
    refused = [0] * THREADS

    def buyer(slot: int) -> None:
        for _ in range(attempts):
            try:
                shop.buy(alice, [(sword.id, 1)])
            except InsufficientFunds:
                refused[slot] += 1
            else:
                done[slot] += 1

    _run(THREADS, buyer)
    successes = sum(done)
    assert successes + sum(refused) == THREADS * attempts
    assert successes == 100  # every won was spendable, and no purchase went through twice
    assert shop.balance(alice) == 100 * PRICE - successes * PRICE == 0
    member = alice.member.id
    assert _scalar(db, select(func.count()).where(purchases.c.member_id == member)) == successes
    granted = _scalar(
        db,
        select(func.coalesce(func.sum(entitlements.c.granted), 0)).where(
            entitlements.c.member_id == member, entitlements.c.status == "active"
        ),
    )
    assert granted == successes  # no lost entitlement
    spends = _scalar(
        db,
        select(func.coalesce(func.sum(journals.c.amount), 0)).where(
            journals.c.member_id == member, journals.c.kind == "spend"
        ),
    )
    assert spends == successes * PRICE
    assert _scalar(db, select(func.sum(purchase_revenue.c.amount))) == successes * PRICE
    assert_invariants(db)


def test_crossing_gifts_and_a_raced_limit(db: Database, clock: ManualClock) -> None:
    shop = Shop(db, clock)
    gem = shop.product("GEM", price=10)
    rare = shop.product("RARE", price=10, limit_count=5, limit_days=30)
    alice = shop.member("alice", paid=10_000)
    bob = shop.member("bob", paid=10_000)
    rounds = 10
    over_limit = [0] * THREADS

    def gifter(slot: int) -> None:
        giver, taker = (alice, bob) if slot % 2 else (bob, alice)
        for _ in range(rounds):
            shop.buy(giver, [(gem.id, 1)], gift_to=taker)
            try:
                shop.buy(giver, [(rare.id, 1)])
            except Conflict as error:
                assert error.code == "purchase_limit_exceeded"
                over_limit[slot] += 1

    _run(THREADS, gifter)
    gifts = THREADS * rounds
    assert _count_lines(db, gem.id) == gifts
    # Each of the two buyers got exactly its limit of RARE, however the threads interleaved.
    assert _count_lines(db, rare.id) == 2 * 5
    assert sum(over_limit) == gifts - 2 * 5
    for account, received in ((alice, gifts // 2), (bob, gifts // 2)):
        owned = [e for e in shop.owned(account) if e.product_id == gem.id]
        assert sum(e.granted or 0 for e in owned) == received
        assert shop.balance(account) == 10_000 - (gifts // 2) * 10 - 5 * 10
    assert_invariants(db)


def _count_lines(db: Database, product_id: Any) -> int:
    return _scalar(db, select(func.count()).where(purchase_lines.c.product_id == product_id))
