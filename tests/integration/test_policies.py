"""Discount policies through purchases, on both databases: worked examples of every effect and
every condition, the stored quote, versions, uses and budgets, cancellation, coupons, and bad
input that changes nothing. ``Promo`` (a shop with policies) is shared with the API and
concurrency tests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import categories
from coffer.catalog.model import Category, Product
from coffer.coupons import campaigns
from coffer.coupons.tables import coupon_redemptions
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError
from coffer.ledger import service as ledger
from coffer.ledger.tables import journals
from coffer.pricing.engine import quote_json
from coffer.pricing.model import DiscountRule, PricedQuote
from coffer.pricing.tables import discount_policies, policy_uses, policy_versions
from coffer.pricing.versioned import POLICIES, Versioned
from coffer.purchases import buying, quoting, records
from coffer.purchases.model import Purchase
from coffer.purchases.tables import purchase_lines
from tests.integration.test_purchases import Shop
from tests.ledger_helpers import Account, assert_invariants


def effect_rule(effect: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"effect": effect, **rest}


PERCENT_10 = {"kind": "percent_off", "value": 1_000}


class Promo(Shop):
    """A shop with discount policies, menus, graded members and discount coupons."""

    def policy(
        self, name: str, rule: dict[str, Any], *, budget: int | None = None, live: bool = True
    ) -> Versioned[DiscountRule]:
        def make(conn: Connection) -> Versioned[DiscountRule]:
            now = self.clock.now()
            made = POLICIES.create(
                conn, self.service.id, name=name, rule=rule, budget=budget, actor="test", now=now
            )
            return POLICIES.activate(conn, self.service.id, made.id, now=now) if live else made

        return self.db.write(make)

    def current(self, policy: Versioned[DiscountRule]) -> Versioned[DiscountRule]:
        return self.db.read(lambda c: POLICIES.get(c, self.service.id, policy.id))

    def graded(self, external_id: str, grade: str, paid: int = 100_000) -> Account:
        member = self.db.write(
            lambda c: app.create_member(c, self.service, external_id, clock=self.clock, grade=grade)
        )
        account = Account(self.service, member, app.wallet_ref(self.service, member))
        self.db.write(
            lambda c: ledger.grant(
                c, account.wallet, amount=paid, kind="paid", source="api", actor="test",
                now=self.clock.now(),
            )
        )  # fmt: skip
        return account

    def category(self, name: str, parent: Category | None = None) -> Category:
        return self.db.write(
            lambda c: categories.create_category(
                c, self.service.id, name_ko=name, name_en=name,
                parent_id=parent.id if parent else None, now=self.clock.now(),
            )
        )  # fmt: skip

    def place(self, product: Product, category: Category) -> None:
        self.db.write(
            lambda c: categories.place_product(c, self.service.id, product.id, category.id)
        )

    def coupon(self, code: str, rule: dict[str, Any], **extra: Any) -> UUID:
        def make(conn: Connection) -> UUID:
            now = self.clock.now()
            made = campaigns.create_campaign(
                conn, self.service.id, name=f"Coupon {code}", kind="discount",
                code_mode="public", public_code=code, discount_rule=rule, valid_from=now,
                valid_until=now + timedelta(days=30), actor="test", now=now, **extra,
            )  # fmt: skip
            return campaigns.activate(conn, self.service.id, made.id, now=now).id

        return self.db.write(make)

    def buy_with(self, account: Account, lines: list[tuple[Any, Any]], **options: Any) -> Purchase:
        return self.db.write(
            lambda c: buying.purchase(
                c, self.service, (account.member, account.wallet), lines, gift_to=None,
                actor="test", now=self.clock.now(), **options,
            )
        )  # fmt: skip

    def quote(
        self, account: Account, lines: list[tuple[Any, Any]], coupon: str | None = None
    ) -> PricedQuote:
        return self.db.read(
            lambda c: quoting.quote(
                c, self.service, account.member, account.wallet, lines, coupon_code=coupon,
                now=self.clock.now(),
            )
        )  # fmt: skip

    def uses(self, policy: Versioned[DiscountRule]) -> list[tuple[int, str]]:
        rows = self.db.read(
            lambda c: c.execute(
                select(policy_uses.c.discount, policy_uses.c.status)
                .where(policy_uses.c.policy_id == policy.id)
                .order_by(policy_uses.c.id)
            ).all()
        )
        return [(r[0], r[1]) for r in rows]


def applied(made: Purchase) -> list[list[tuple[str, int, str, int, str]]]:
    """Per line of the stored quote: (kind, version, name, amount, reason) of each rule."""
    assert made.quote is not None
    return [
        [(a["kind"], a["version"], a["name"], a["amount"], a["reason"]) for a in line["applied"]]
        for line in made.quote["lines"]
    ]


def discounts(made: Purchase) -> list[tuple[int, int, int]]:
    return [(line.unit_price * line.quantity, line.discount, line.amount) for line in made.lines]


@pytest.fixture
def promo(db: Database, clock: ManualClock) -> Promo:
    return Promo(db, clock)


# --- effects ----------------------------------------------------------------------------------


def test_percent_off_worked_example(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=555)
    spring = promo.policy("Spring 10%", effect_rule(PERCENT_10))
    alice = promo.member("alice", paid=10_000)

    made = promo.buy_with(alice, [(sword.id, 2), (shield.id, 1)])

    # 10% of 2,000 = 200; 10% of 555 = 55.5, rounded down to 55.
    assert discounts(made) == [(2_000, 200, 1_800), (555, 55, 500)]
    assert made.total == 2_300
    assert promo.balance(alice) == 10_000 - 2_300
    assert applied(made) == [
        [("policy", 1, "Spring 10%", 200, "10% off")],
        [("policy", 1, "Spring 10%", 55, "10% off")],
    ]
    assert made.quote is not None
    assert made.quote["lines"][0]["applied"][0]["id"] == str(spring.id)
    assert (made.quote["list_total"], made.quote["discount"], made.quote["total"]) == (
        2_555, 255, 2_300,
    )  # fmt: skip
    assert made.quote["pricer"] == "engine"
    # The lines as stored, the spends, the revenue and the event: all at the discounted amount.
    stored = promo.db.read(
        lambda c: c.execute(
            select(purchase_lines.c.unit_price, purchase_lines.c.discount, purchase_lines.c.amount)
            .where(purchase_lines.c.purchase_id == made.id)
            .order_by(purchase_lines.c.id)
        ).all()
    )
    assert [tuple(r) for r in stored] == [(1_000, 200, 1_800), (555, 55, 500)]
    spends = promo.db.read(
        lambda c: (
            c.execute(
                select(journals.c.amount).where(journals.c.kind == "spend").order_by(journals.c.id)
            )
            .scalars()
            .all()
        )
    )
    assert list(spends) == [1_800, 500]
    assert sum(r[2] for r in promo.revenue(made)) == 2_300
    event = promo.events("purchase.completed")[-1]
    assert [(ln["unit_price"], ln["discount"], ln["amount"]) for ln in event["lines"]] == [
        (1_000, 200, 1_800), (555, 55, 500),
    ]  # fmt: skip
    assert promo.uses(spring) == [(200, "active"), (55, "active")]
    # No budget: what it gave is its uses; its row is not updated by every purchase.
    assert promo.current(spring).budget_spent == 0
    assert_invariants(promo.db)


def test_amount_off_on_some_products(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=500)
    promo.policy(
        "300 off swords",
        effect_rule({"kind": "amount_off", "value": 300},
                    scope={"kind": "products", "ids": [str(sword.id)]}),
    )  # fmt: skip
    alice = promo.member("alice", paid=10_000)
    made = promo.buy_with(alice, [(sword.id, 2), (shield.id, 1)])
    assert discounts(made) == [(2_000, 600, 1_400), (500, 0, 500)]
    assert applied(made) == [[("policy", 1, "300 off swords", 600, "300 off each")], []]
    assert promo.balance(alice) == 10_000 - 1_900


def test_fixed_price_on_a_menu_subtree(promo: Promo) -> None:
    weapons = promo.category("Weapons")
    swords = promo.category("Swords", weapons)
    armour = promo.category("Armour")
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=500)
    promo.place(sword, swords)
    promo.place(shield, armour)
    promo.policy(
        "Weapons at 400",
        effect_rule({"kind": "fixed_price", "value": 400},
                    scope={"kind": "categories", "ids": [str(weapons.id)]}),
    )  # fmt: skip
    alice = promo.member("alice", paid=10_000)
    made = promo.buy_with(alice, [(sword.id, 3), (shield.id, 1)])
    # The sword sits in Swords, under Weapons: the subtree scope matches it.
    assert discounts(made) == [(3_000, 1_800, 1_200), (500, 0, 500)]
    assert applied(made)[0] == [("policy", 1, "Weapons at 400", 1_800, "fixed price 400 each")]


def test_buy_two_get_one(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    deal = promo.policy("3 for 2", effect_rule({"kind": "buy_n_get_m", "buy": 2, "get": 1}))
    alice = promo.member("alice", paid=10_000)
    assert discounts(promo.buy_with(alice, [(sword.id, 2)])) == [(2_000, 0, 2_000)]
    assert discounts(promo.buy_with(alice, [(sword.id, 7)])) == [(7_000, 2_000, 5_000)]
    quoted = promo.quote(alice, [(sword.id, 1)])
    assert [(s.name, s.reason) for s in quoted.skipped] == [
        ("3 for 2", "nothing off at this price")
    ]
    assert promo.uses(deal) == [(2_000, "active")]


def test_a_package_is_one_line_at_its_price_and_its_split_is_of_the_amount(promo: Promo) -> None:
    other = promo.provider("CP B")
    sword = promo.product("SWORD", price=600)
    gem = promo.product("GEM", price=400, cp=other)
    bundle = promo.package("BUNDLE", 800, [(sword, 1), (gem, 1)])
    promo.policy("Quarter off", effect_rule({"kind": "percent_off", "value": 2_500}))
    alice = promo.member("alice", paid=10_000)
    made = promo.buy_with(alice, [(bundle.id, 1)])
    assert discounts(made) == [(800, 200, 600)]
    # 600 split 600:400 over the components' list prices.
    assert sorted(r[2] for r in promo.revenue(made)) == [240, 360]


def test_a_line_discounted_to_zero_has_no_journal(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    promo.policy("Free swords", effect_rule({"kind": "fixed_price", "value": 0}))
    alice = promo.member("alice", paid=100)
    made = promo.buy_with(alice, [(sword.id, 1)])
    assert discounts(made) == [(1_000, 1_000, 0)]
    assert made.lines[0].journal_id is None
    assert promo.balance(alice) == 100
    assert len(promo.owned(alice)) == 1


def test_exclusive_policies_give_the_best_and_stackable_ones_add_up(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    alice = promo.member("alice", paid=100_000)
    promo.policy("10%", effect_rule(PERCENT_10))
    promo.policy("250 off", effect_rule({"kind": "amount_off", "value": 250}))
    made = promo.buy_with(alice, [(sword.id, 1)])
    assert applied(made) == [[("policy", 1, "250 off", 250, "250 off each")]]
    assert made.quote is not None
    assert [(s["name"], s["reason"]) for s in made.quote["skipped"]] == [
        ("10%", "a better offer applied")
    ]
    # Two stackable ones together (higher priority first) beat both exclusive ones.
    promo.policy(
        "20% stack",
        effect_rule({"kind": "percent_off", "value": 2_000}, stacking="stackable", priority=5),
    )
    promo.policy(
        "100 off stack", effect_rule({"kind": "amount_off", "value": 100}, stacking="stackable")
    )
    made = promo.buy_with(alice, [(sword.id, 1)])
    assert applied(made) == [
        [
            ("policy", 1, "20% stack", 200, "20% off"),
            ("policy", 1, "100 off stack", 100, "100 off each"),
        ]
    ]
    assert made.total == 700


# --- conditions -------------------------------------------------------------------------------


def test_grade_condition(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    promo.policy("Gold 10%", effect_rule(PERCENT_10, conditions={"grades": ["gold"]}))
    basic = promo.graded("basic-one", "basic")
    gold = promo.graded("gold-one", "gold")
    assert discounts(promo.buy_with(basic, [(sword.id, 1)])) == [(1_000, 0, 1_000)]
    assert [s.reason for s in promo.quote(basic, [(sword.id, 1)]).skipped] == ["not this grade"]
    assert discounts(promo.buy_with(gold, [(sword.id, 1)])) == [(1_000, 100, 900)]


def test_time_window_condition(promo: Promo, clock: ManualClock) -> None:
    sword = promo.product("SWORD", price=1_000)
    start = clock.now() + timedelta(days=1)
    window = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(days=2)).isoformat()}
    promo.policy("Weekend", effect_rule(PERCENT_10, conditions=window))
    alice = promo.member("alice", paid=10_000)
    assert discounts(promo.buy_with(alice, [(sword.id, 1)])) == [(1_000, 0, 1_000)]
    assert [s.reason for s in promo.quote(alice, [(sword.id, 1)]).skipped] == [
        "outside its time window"
    ]
    clock.advance(timedelta(days=1))
    assert discounts(promo.buy_with(alice, [(sword.id, 1)])) == [(1_000, 100, 900)]
    clock.advance(timedelta(days=2))  # ends_at is exclusive
    assert discounts(promo.buy_with(alice, [(sword.id, 1)])) == [(1_000, 0, 1_000)]


def test_minimum_amount_and_quantity_conditions(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=500)
    promo.policy("Big baskets", effect_rule(PERCENT_10, conditions={"min_amount": 2_000}))
    alice = promo.member("alice", paid=100_000)
    assert promo.quote(alice, [(sword.id, 1), (shield.id, 1)]).discount == 0
    assert [s.reason for s in promo.quote(alice, [(sword.id, 1)]).skipped] == [
        "below the minimum amount 2,000"
    ]
    made = promo.buy_with(alice, [(sword.id, 1), (shield.id, 2)])
    assert discounts(made) == [(1_000, 100, 900), (1_000, 100, 900)]

    bulk = Promo(promo.db, promo.clock, name="Bulk")
    arrow = bulk.product("ARROW", price=10)
    bulk.policy(
        "3 or more", effect_rule({"kind": "amount_off", "value": 2}, conditions={"min_quantity": 3})
    )
    bob = bulk.member("bob", paid=1_000)
    assert discounts(bulk.buy_with(bob, [(arrow.id, 2)])) == [(20, 0, 20)]
    assert discounts(bulk.buy_with(bob, [(arrow.id, 3)])) == [(30, 6, 24)]


def test_first_purchase_only_once_and_again_after_a_whole_cancellation(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000, cancel_window_seconds=3_600)
    welcome = promo.policy("Welcome", effect_rule(PERCENT_10, conditions={"first_purchase": True}))
    alice = promo.member("alice", paid=10_000)
    first = promo.buy_with(alice, [(sword.id, 1)])
    assert discounts(first) == [(1_000, 100, 900)]
    second = promo.buy_with(alice, [(sword.id, 1)])
    assert discounts(second) == [(1_000, 0, 1_000)]
    assert [s.reason for s in promo.quote(alice, [(sword.id, 1)]).skipped] == [
        "first purchase only"
    ]
    promo.cancel(second, buyer=alice)
    promo.cancel(first, buyer=alice)
    # No purchase left that is not wholly cancelled: the next one is a first purchase again.
    assert discounts(promo.buy_with(alice, [(sword.id, 1)])) == [(1_000, 100, 900)]
    assert promo.uses(welcome) == [(100, "released"), (100, "active")]


def test_uses_per_member(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    promo.policy("Once each", effect_rule(PERCENT_10, uses_per_member=1))
    alice = promo.member("alice", paid=10_000)
    bob = promo.member("bob", paid=10_000)
    # Two lines of one purchase are one use.
    shield = promo.product("SHIELD", price=500)
    assert [
        d for _l, d, _a in discounts(promo.buy_with(alice, [(sword.id, 1), (shield.id, 1)]))
    ] == [100, 50]
    assert discounts(promo.buy_with(alice, [(sword.id, 1)])) == [(1_000, 0, 1_000)]
    assert [s.reason for s in promo.quote(alice, [(sword.id, 1)]).skipped] == ["used up (1 of 1)"]
    assert discounts(promo.buy_with(bob, [(sword.id, 1)])) == [(1_000, 100, 900)]


# --- versions, budgets, cancellation ---------------------------------------------------------


def test_a_revised_policy_leaves_past_purchases_as_they_were(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    spring = promo.policy("Spring", effect_rule(PERCENT_10))
    alice = promo.member("alice", paid=10_000)
    before = promo.buy_with(alice, [(sword.id, 1)])
    promo.db.write(
        lambda c: POLICIES.revise(
            c, promo.service.id, spring.id, name="Spring+",
            rule=effect_rule({"kind": "percent_off", "value": 2_000}), budget=None,
            actor="test", now=promo.clock.now(),
        )
    )  # fmt: skip
    after = promo.buy_with(alice, [(sword.id, 1)])
    assert applied(after) == [[("policy", 2, "Spring+", 200, "20% off")]]
    # The past purchase, read back, still shows version 1 as it was.
    read = promo.db.read(lambda c: buying_records(c, promo, before.id))
    assert read.quote == before.quote
    assert applied(read) == [[("policy", 1, "Spring", 100, "10% off")]]
    old = promo.db.read(lambda c: POLICIES.at_version(c, spring.id, 1))
    assert old.effect.value == 1_000
    uses = promo.db.read(
        lambda c: (
            c.execute(select(policy_uses.c.version).order_by(policy_uses.c.id)).scalars().all()
        )
    )
    assert list(uses) == [1, 2]


def buying_records(conn: Connection, promo: Promo, purchase_id: UUID) -> Purchase:
    return records.get_purchase(conn, promo.service.id, purchase_id)


def test_a_budget_caps_the_discounts(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    capped = promo.policy(
        "1,000 off", effect_rule({"kind": "amount_off", "value": 1_000}), budget=2_500
    )
    alice = promo.member("alice", paid=100_000)
    made = promo.buy_with(alice, [(sword.id, 2)])
    assert discounts(made) == [(2_000, 2_000, 0)]
    made = promo.buy_with(alice, [(sword.id, 1)])
    assert applied(made) == [
        [("policy", 1, "1,000 off", 500, "1,000 off each, capped by the budget")]
    ]
    made = promo.buy_with(alice, [(sword.id, 1)])
    assert discounts(made) == [(1_000, 0, 1_000)]
    assert made.quote is not None
    assert [s["reason"] for s in made.quote["skipped"]] == ["budget spent"]
    assert promo.current(capped).budget_spent == 2_500


def test_cancelling_a_discounted_line_refunds_what_was_paid_and_releases_the_use(
    promo: Promo,
) -> None:
    sword = promo.product("SWORD", price=1_000, cancel_window_seconds=3_600)
    shield = promo.product("SHIELD", price=500, cancel_window_seconds=3_600)
    once = promo.policy(
        "Once, 300 off",
        effect_rule({"kind": "amount_off", "value": 300}, uses_per_member=1),
        budget=5_000,
    )
    alice = promo.member("alice", paid=10_000)
    made = promo.buy_with(alice, [(sword.id, 1), (shield.id, 1)])
    assert discounts(made) == [(1_000, 300, 700), (500, 300, 200)]
    assert promo.balance(alice) == 9_100
    assert promo.current(once).budget_spent == 600

    promo.cancel(made, [made.lines[0].id], buyer=alice)
    assert promo.balance(alice) == 9_100 + 700  # exactly what the line cost
    assert promo.uses(once) == [(300, "released"), (300, "active")]
    assert promo.current(once).budget_spent == 300
    # The other line still holds the purchase's use: no second discount yet.
    assert promo.quote(alice, [(sword.id, 1)]).discount == 0

    promo.cancel(made, buyer=alice)
    assert promo.balance(alice) == 10_000
    assert promo.current(once).budget_spent == 0
    assert promo.quote(alice, [(sword.id, 1)]).discount == 300
    assert sum(r[2] for r in promo.revenue(made)) == 0
    assert_invariants(promo.db)


# --- quotes, coupons and expected totals -----------------------------------------------------


def test_a_quote_and_the_purchase_that_follows_agree(promo: Promo) -> None:
    weapons = promo.category("Weapons")
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=700)
    promo.place(sword, weapons)
    in_weapons = {"kind": "categories", "ids": [str(weapons.id)]}
    promo.policy("Weapons 10%", effect_rule(PERCENT_10, scope=in_weapons))
    promo.policy(
        "3 for 2", effect_rule({"kind": "buy_n_get_m", "buy": 2, "get": 1}), budget=100_000
    )
    promo.policy("Gold only", effect_rule(PERCENT_10, conditions={"grades": ["gold"]}))
    promo.coupon("SAVE5", effect_rule({"kind": "percent_off", "value": 500}))
    alice = promo.member("alice", paid=3_000, bonus=1_000)
    lines: list[tuple[Any, Any]] = [(sword.id, 2), (shield.id, 3)]
    quoted = promo.quote(alice, lines, coupon="save5")
    assert quoted.cash is not None
    assert (quoted.cash.bonus, quoted.cash.paid, quoted.cash.short) == (1_000, 2_040, 0)
    made = promo.buy_with(alice, lines, coupon="save5", expected_total=quoted.total)
    assert made.quote is not None
    assert {k: v for k, v in made.quote.items() if k not in ("pricer", "cash")} == {
        k: v for k, v in quote_json(quoted).items() if k != "cash"
    }
    # 2,000 - 200 (10%) - 90 (5% of 1,800); 2,100 - 700 (3 for 2) - 70 (5% of 1,400).
    assert discounts(made) == [(2_000, 290, 1_710), (2_100, 770, 1_330)]
    assert made.total == quoted.total == 3_040
    assert quoted.coupon_discount == 160


def test_a_discount_coupon_in_a_purchase(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    shield = promo.product("SHIELD", price=400)
    campaign = promo.coupon(
        "SWORDS300",
        effect_rule({"kind": "amount_off", "value": 300},
                    scope={"kind": "products", "ids": [str(sword.id)]}),
    )  # fmt: skip
    alice = promo.member("alice", paid=10_000)
    refused = refused_purchase(promo, alice, [(shield.id, 1)], coupon="swords-300")
    assert refused.code == "coupon_not_applicable"
    made = promo.buy_with(alice, [(sword.id, 2), (shield.id, 1)], coupon="swords-300")
    assert applied(made)[0] == [("coupon", 1, "Coupon SWORDS300", 600, "300 off each")]
    assert made.total == 1_400 + 400
    redemption = promo.db.read(
        lambda c: c.execute(
            select(coupon_redemptions.c.purchase_id, coupon_redemptions.c.discount).where(
                coupon_redemptions.c.campaign_id == campaign
            )
        ).all()
    )
    assert [tuple(r) for r in redemption] == [(made.id, 600)]
    # One per member (the campaign's default): the second use is refused, nothing changes.
    assert refused_purchase(promo, alice, [(sword.id, 1)], coupon="SWORDS300").code == (
        "coupon_member_limit_reached"
    )


def refused_purchase(
    promo: Promo, account: Account, lines: list[tuple[Any, Any]], **options: Any
) -> CofferError:
    before = (promo.state(account), policy_state(promo.db))
    with pytest.raises(CofferError) as caught:
        promo.buy_with(account, lines, **options)
    assert (promo.state(account), policy_state(promo.db)) == before
    return caught.value


def policy_state(db: Database) -> tuple[int, ...]:
    def read(conn: Connection) -> tuple[int, ...]:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (discount_policies, policy_versions, policy_uses, coupon_redemptions)
        ]
        spent = conn.execute(
            select(func.coalesce(func.sum(discount_policies.c.budget_spent), 0))
        ).scalar_one()
        return (*counts, int(spent))

    return db.read(read)


def test_bad_input_is_refused_and_changes_nothing(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    promo.policy("10%", effect_rule(PERCENT_10), budget=10_000)
    alice = promo.member("alice", paid=10_000)
    before = policy_state(promo.db)
    with pytest.raises(CofferError) as caught:
        promo.policy("Negative", effect_rule({"kind": "fixed_price", "value": -1}))
    assert (caught.value.code, caught.value.details) == ("invalid_rule", {"field": "effect.value"})
    assert policy_state(promo.db) == before

    assert refused_purchase(promo, alice, [(sword.id, 1)], coupon="NOSUCHCODE").code == (
        "coupon_not_found"
    )
    assert refused_purchase(promo, alice, [(sword.id, 1)], coupon="!").code == (
        "invalid_coupon_code"
    )
    changed = refused_purchase(promo, alice, [(sword.id, 1)], expected_total=1_000)
    assert (changed.code, changed.details["total"]) == ("price_changed", 900)
    assert refused_purchase(promo, alice, [(sword.id, 12)]).code == "insufficient_funds"
    made = promo.buy_with(alice, [(sword.id, 1)], expected_total=900)
    assert made.total == 900
