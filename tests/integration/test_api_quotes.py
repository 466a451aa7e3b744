"""POST /api/v1/quotes and discounted purchases over HTTP, on both databases.

A quote answers every line's list price, each rule's part (id, version, name, amount, reason),
the skipped rules and the cash it would draw; it writes nothing. The purchase that follows
costs what the quote said, answers each line's list price, discount and amount, and takes a
coupon. Refusals are 4xx with their code and change nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from coffer.catalog.model import Product
from coffer.coupons import campaigns
from coffer.coupons.tables import coupon_attempts, coupon_redemptions
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.pricing.model import DiscountRule
from coffer.pricing.tables import policy_uses
from coffer.pricing.versioned import POLICIES, Versioned
from tests.integration.test_api_purchases import _product, _snapshot
from tests.integration.test_api_support import Tenant, World, error_code, ok


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    tenant = world.tenant("Acme")
    tenant.member("alice")
    tenant.grant("alice", 10_000)
    tenant.member("goldie", grade="gold")
    tenant.grant("goldie", 10_000)
    return tenant


def _policy(
    tenant: Tenant, world: World, name: str, rule: dict[str, Any], budget: int | None = None
) -> Versioned[DiscountRule]:
    def make(conn: Any) -> Versioned[DiscountRule]:
        now = world.clock.now()
        made = POLICIES.create(
            conn, tenant.service.id, name=name, rule=rule, budget=budget, actor="test", now=now
        )
        return POLICIES.activate(conn, tenant.service.id, made.id, now=now)

    return tenant.db.write(make)


def _coupon(tenant: Tenant, world: World, code: str, rule: dict[str, Any]) -> None:
    def make(conn: Any) -> None:
        now = world.clock.now()
        made = campaigns.create_campaign(
            conn, tenant.service.id, name=f"Coupon {code}", kind="discount", code_mode="public",
            public_code=code, discount_rule=rule, valid_from=now,
            valid_until=now + timedelta(days=7), actor="test", now=now,
        )  # fmt: skip
        campaigns.activate(conn, tenant.service.id, made.id, now=now)

    tenant.db.write(make)


def _count(tenant: Tenant, table: Any) -> int:
    return int(
        tenant.db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one())
    )


def _quote(tenant: Tenant, body: dict[str, Any]) -> Any:
    return tenant.post("/quotes", body, key=None)


def _stock(acme: Tenant, world: World) -> tuple[Product, Product]:
    sword = _product(acme, world, "SWORD", price=1_000)
    shield = _product(acme, world, "SHIELD", price=600)
    return sword, shield


def test_a_quote_explains_every_effect_and_the_purchase_agrees(acme: Tenant, world: World) -> None:
    sword, shield = _stock(acme, world)
    arrow = _product(acme, world, "ARROW", price=50)
    gem = _product(acme, world, "GEM", price=2_000)
    ten = _policy(acme, world, "Swords 10%", {
        "scope": {"kind": "products", "ids": [str(sword.id)]},
        "effect": {"kind": "percent_off", "value": 1_000},
    })  # fmt: skip
    _policy(acme, world, "Shields 150 off", {
        "scope": {"kind": "products", "ids": [str(shield.id)]},
        "effect": {"kind": "amount_off", "value": 150},
    })  # fmt: skip
    _policy(acme, world, "Gems at 1,500", {
        "scope": {"kind": "products", "ids": [str(gem.id)]},
        "effect": {"kind": "fixed_price", "value": 1_500},
    })  # fmt: skip
    _policy(acme, world, "Arrows 3 for 2", {
        "scope": {"kind": "products", "ids": [str(arrow.id)]},
        "effect": {"kind": "buy_n_get_m", "buy": 2, "get": 1},
    })  # fmt: skip
    _policy(acme, world, "Gold 5%", {
        "conditions": {"grades": ["gold"]}, "effect": {"kind": "percent_off", "value": 500},
        "stacking": "stackable",
    })  # fmt: skip
    lines = [
        {"product": "sku:SWORD", "quantity": 2},
        {"product": "sku:SHIELD"},
        {"product": str(gem.id)},
        {"product": "sku:ARROW", "quantity": 6},
    ]
    before = _snapshot(acme, "alice")
    quoted = ok(_quote(acme, {"member": "alice", "lines": lines}), 200)
    assert _snapshot(acme, "alice") == before  # a quote writes nothing
    assert (quoted["member"], quoted["currency"]) == ("alice", "KRW")
    got = [
        (ln["sku"], ln["unit_price"], ln["list_amount"], ln["discount"], ln["amount"])
        for ln in quoted["lines"]
    ]
    assert got == [
        ("SWORD", 1_000, 2_000, 200, 1_800),
        ("SHIELD", 600, 600, 150, 450),
        ("GEM", 2_000, 2_000, 500, 1_500),
        ("ARROW", 50, 300, 100, 200),
    ]
    assert quoted["lines"][0]["applied"] == [
        {"kind": "policy", "id": str(ten.id), "version": 1, "name": "Swords 10%",
         "amount": 200, "reason": "10% off",
         "effect": {"kind": "percent_off", "value": 1000, "buy": None, "get": None},
         "capped": False},
    ]  # fmt: skip
    assert [a["reason"] for ln in quoted["lines"] for a in ln["applied"]] == [
        "10% off", "150 off each", "fixed price 1,500 each", "buy 2 get 1 free",
    ]  # fmt: skip
    assert [(s["name"], s["reason"]) for s in quoted["skipped"]] == [("Gold 5%", "not this grade")]
    assert (quoted["list_total"], quoted["discount"], quoted["total"]) == (4_900, 950, 3_950)
    assert quoted["coupon_discount"] == 0
    assert quoted["cash"] == {"bonus": 0, "paid": 3_950, "short": 0}

    made = ok(
        acme.post("/purchases", {"member": "alice", "lines": lines, "expected_total": 3_950}), 201
    )
    assert made["total"] == 3_950
    assert [(ln["unit_price"], ln["discount"], ln["amount"]) for ln in made["lines"]] == [
        (1_000, 200, 1_800), (600, 150, 450), (2_000, 500, 1_500), (50, 100, 200),
    ]  # fmt: skip
    assert {k: v for k, v in made["quote"].items() if k not in ("pricer", "cash")} == {
        k: v for k, v in quoted.items() if k not in ("member", "currency", "cash")
    }
    assert made["balance"]["available"] == 10_000 - 3_950
    read = ok(acme.get(f"/purchases/{made['id']}"), 200)
    assert read["quote"] == made["quote"]

    # For a gold member, the stackable 5% loses to the swords' 10% and takes 5% off arrows
    # (where "3 for 2" gives nothing for one arrow).
    gold_lines = [{"product": "sku:SWORD"}, {"product": "sku:ARROW"}]
    gold = ok(_quote(acme, {"member": "goldie", "lines": gold_lines}), 200)
    assert [[(a["name"], a["amount"]) for a in ln["applied"]] for ln in gold["lines"]] == [
        [("Swords 10%", 100)], [("Gold 5%", 2)],
    ]  # fmt: skip


def test_a_coupon_in_a_quote_and_a_purchase(acme: Tenant, world: World) -> None:
    sword, _shield = _stock(acme, world)
    _policy(acme, world, "10%", {"effect": {"kind": "percent_off", "value": 1_000}})
    _coupon(acme, world, "TAKE200", {"effect": {"kind": "amount_off", "value": 200}})
    body = {"member": "alice", "lines": [{"product": "sku:SWORD"}], "coupon": "take-200"}
    quoted = ok(_quote(acme, body), 200)
    assert [(a["kind"], a["amount"]) for a in quoted["lines"][0]["applied"]] == [
        ("policy", 100), ("coupon", 200),
    ]  # fmt: skip
    assert (quoted["total"], quoted["coupon_discount"]) == (700, 200)
    assert _count(acme, coupon_redemptions) == 0  # the quote did not use the coupon

    made = ok(acme.post("/purchases", body), 201)
    assert (made["total"], made["lines"][0]["discount"]) == (700, 300)
    assert _count(acme, coupon_redemptions) == 1
    assert _count(acme, policy_uses) == 1
    again = acme.post("/purchases", body)
    assert (again.status_code, error_code(again)) == (409, "coupon_member_limit_reached")
    assert (_quote(acme, body).status_code, error_code(_quote(acme, body))) == (
        409, "coupon_member_limit_reached",
    )  # fmt: skip
    assert sword.price == 1_000


def test_refusals_change_nothing(acme: Tenant, world: World) -> None:
    _stock(acme, world)
    _product(acme, world, "OLD", status="draft")
    _policy(acme, world, "10%", {"effect": {"kind": "percent_off", "value": 1_000}})
    good = [{"product": "sku:SWORD"}]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"member": "alice", "lines": []}, 422, "invalid_lines"),
        ({"member": "alice", "lines": [{"product": "nope"}]}, 422, "invalid_product"),
        ({"member": "alice", "lines": [{"product": "sku:SWORD", "quantity": 0}]}, 422,
         "invalid_quantity"),
        ({"member": "alice", "lines": [{"product": "sku:NOPE"}]}, 404, "product_not_found"),
        ({"member": "alice", "lines": [{"product": "sku:OLD"}]}, 409, "product_not_on_sale"),
        ({"member": "nobody", "lines": good}, 404, "member_not_found"),
        ({"member": "alice", "lines": good, "coupon": "NOSUCHCODE"}, 404, "coupon_not_found"),
        ({"member": "alice", "lines": good, "coupon": ""}, 422, "invalid_coupon_code"),
        ({"member": "alice", "lines": good, "coupon": 5}, 422, "invalid_coupon_code"),
    ]  # fmt: skip
    before = (_snapshot(acme, "alice"), _count(acme, policy_uses))
    for body, status, code in cases:
        for answer in (_quote(acme, body), acme.post("/purchases", body)):
            assert (answer.status_code, error_code(answer)) == (status, code), body
    changed = acme.post("/purchases", {"member": "alice", "lines": good, "expected_total": 1_000})
    assert (changed.status_code, error_code(changed)) == (409, "price_changed")
    assert changed.json()["error"]["details"]["total"] == 900
    bad_total = acme.post("/purchases", {"member": "alice", "lines": good, "expected_total": -1})
    assert (bad_total.status_code, error_code(bad_total)) == (422, "invalid_expected_total")
    assert (_snapshot(acme, "alice"), _count(acme, policy_uses)) == before
    # Two wrong codes (one quoted, one bought) were counted as failed coupon attempts.
    assert _count(acme, coupon_attempts) == 2
