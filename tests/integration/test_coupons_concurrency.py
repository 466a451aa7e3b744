"""Concurrent redemptions on both databases: 200 members race for one bulk code, and for a
public code limited to one; one member races for a public code up to its per-member limit.
Exactly the allowed number succeed, and the losers are refused with the stable code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from coffer.coupons.tables import coupon_campaigns, coupon_redemptions
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError
from tests.integration.test_coupons import Coupons
from tests.ledger_helpers import Account, assert_invariants, new_member

RACERS = 200
WORKERS = 16


def _race(attempts: int, redeem: Callable[[int], object]) -> Counter[str]:
    """Run ``redeem(i)`` for every i on a thread pool; count outcomes ('ok' or error codes)."""

    def one(index: int) -> str:
        try:
            redeem(index)
        except CofferError as error:
            return error.code
        return "ok"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return Counter(pool.map(one, range(attempts)))


def _members(shop: Coupons, count: int) -> list[Account]:
    return [new_member(shop.db, shop.clock, shop.service, f"m{i:03d}") for i in range(count)]


def _redemptions(db: Database) -> int:
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(coupon_redemptions))
                        .scalar_one()))  # fmt: skip


def test_200_members_race_for_one_bulk_code(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    [code] = shop.codes(shop.campaign(cash_amount=1_000))
    racers = _members(shop, RACERS)
    outcomes = _race(RACERS, lambda i: shop.redeem(racers[i], code))
    assert outcomes == Counter({"ok": 1, "coupon_already_redeemed": RACERS - 1})
    assert _redemptions(db) == 1
    assert sum(shop.balance(member) for member in racers) == 1_000
    assert_invariants(db)


def test_200_members_race_for_a_public_code_limited_to_one(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign("product", mode="public", public_code="FIRST", redemption_limit=1)
    racers = _members(shop, RACERS)
    outcomes = _race(RACERS, lambda i: shop.redeem(racers[i], "first"))
    assert outcomes == Counter({"ok": 1, "coupon_limit_reached": RACERS - 1})
    assert _redemptions(db) == 1
    count = db.read(
        lambda c: c.execute(
            select(coupon_campaigns.c.redeemed_count).where(coupon_campaigns.c.id == campaign.id)
        ).scalar_one()
    )
    assert count == 1
    assert sum(len(shop.owned(member)) for member in racers) == 1


def test_one_member_races_up_to_the_per_member_limit(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    shop.campaign(mode="public", public_code="THRICE", per_member_limit=3, cash_amount=100)
    alice = shop.member("alice")
    outcomes = _race(40, lambda _: shop.redeem(alice, "THRICE"))
    # Failed attempts count toward the rate limit: after 10 refusals the rest get 429.
    assert outcomes["ok"] == 3
    assert outcomes["coupon_member_limit_reached"] + outcomes["too_many_coupon_attempts"] == 37
    assert outcomes["coupon_member_limit_reached"] >= 10
    assert shop.balance(alice) == 300
    assert _redemptions(db) == 3
    assert_invariants(db)
