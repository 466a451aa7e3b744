"""Purchases through the service, on both databases; the split rule as a property test.

Every product kind end to end, a package split over several CPs, gifts, purchase limits, the
sale window, refusals that change nothing, the cancellation rules, rate-card time, webhook
events, and a failure injected between the cash debit and the grant. ``Shop`` (a service with
a CP and helpers) is shared with the concurrency and API tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import packages, products, providers, time_rates
from coffer.catalog.model import ContentProvider, Product
from coffer.catalog.tables import products as products_table
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.entitlements import grants, items
from coffer.entitlements.model import Entitlement
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.tables import journals
from coffer.purchases import buying, cancelling, records
from coffer.purchases.model import Purchase, split_largest_remainder
from coffer.purchases.tables import purchase_lines, purchase_revenue
from coffer.purchases.tables import purchases as purchases_table
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service

KIND_FIELDS: dict[str, dict[str, Any]] = {
    "item": {"consumable": True},
    "period_pass": {"pass_days": 30},
    "quantity_pass": {"units": 10, "unit_name": "unit"},
    "metered": {"unit_price": 10, "unit_name": "unit", "min_balance": 0},
    "mixed": {"pass_days": 30, "units": 100, "unit_price": 5, "unit_name": "minute"},
    "package": {},
    "time_coupon": {"minutes": 60},
}


class Shop:
    """A service with one content provider, and shortcuts to stock it and buy from it."""

    def __init__(self, db: Database, clock: ManualClock, name: str = "Game") -> None:
        self.db = db
        self.clock = clock
        self.service: Service = new_service(db, clock, name=name)
        self.cp = self.provider("CP A")

    def provider(self, name: str) -> ContentProvider:
        return self.db.write(
            lambda c: providers.create_provider(c, self.service.id, name=name, now=self.clock.now())
        )

    def product(
        self,
        sku: str,
        kind: str = "item",
        price: int = 1_000,
        *,
        cp: ContentProvider | None = None,
        status: str = "on_sale",
        **fields: Any,
    ) -> Product:
        spec = {
            "sku": sku, "kind": kind, "cp_id": (cp or self.cp).id, "name_ko": sku,
            "name_en": sku, **KIND_FIELDS[kind], **fields,
        }  # fmt: skip
        if kind != "metered":
            spec["price"] = price
        return self.db.write(
            lambda c: products.create_product(
                c, self.service.id, spec, now=self.clock.now(), status=status
            )
        )

    def package(
        self, sku: str, price: int, components: Sequence[tuple[Product, int]], **fields: Any
    ) -> Product:
        made = self.product(sku, "package", price, status="draft", **fields)

        def stock(conn: Any) -> Product:
            now = self.clock.now()
            packages.set_package_components(
                conn, self.service.id, made.id, [(p.id, q) for p, q in components], now=now
            )
            return products.set_product_status(conn, self.service.id, made.id, "on_sale", now=now)

        return self.db.write(stock)

    def member(self, external_id: str, paid: int = 0, bonus: int = 0) -> Account:
        account = new_member(self.db, self.clock, self.service, external_id)

        def fund(conn: Connection) -> None:
            for kind, amount in (("bonus", bonus), ("paid", paid)):
                if amount:
                    ledger.grant(
                        conn, account.wallet, amount=amount, kind=kind, source="api",
                        actor="test", now=self.clock.now(),
                    )  # fmt: skip

        self.db.write(fund)
        return account

    def buy(
        self,
        account: Account,
        lines: Sequence[tuple[Any, Any]],
        gift_to: Account | None = None,
    ) -> Purchase:
        return self.db.write(
            lambda c: buying.purchase(
                c, self.service, (account.member, account.wallet), list(lines),
                gift_to=gift_to.member if gift_to else None, actor="test", now=self.clock.now(),
            )
        )  # fmt: skip

    def refused(
        self, account: Account, lines: Sequence[tuple[Any, Any]], gift_to: Account | None = None
    ) -> CofferError:
        before = self.state(account)
        with pytest.raises(CofferError) as caught:
            self.buy(account, lines, gift_to)
        assert self.state(account) == before
        return caught.value

    def cancel(
        self, purchase: Purchase, lines: Sequence[UUID] | None = None, *, buyer: Account
    ) -> Purchase:
        return self.db.write(
            lambda c: cancelling.cancel(
                c, self.service, purchase.id, lines, buyer=(buyer.member, buyer.wallet),
                actor="test", reason="changed my mind", now=self.clock.now(),
            )
        )  # fmt: skip

    def cancel_refused(
        self, purchase: Purchase, lines: Sequence[UUID] | None = None, *, buyer: Account
    ) -> str:
        before = self.state(buyer)
        with pytest.raises(CofferError) as caught:
            self.cancel(purchase, lines, buyer=buyer)
        assert self.state(buyer) == before
        return caught.value.code

    def balance(self, account: Account) -> int:
        found = self.db.read(lambda c: queries.balance(c, account.member.id, self.clock.now()))
        return found.available

    def owned(self, account: Account) -> list[Entitlement]:
        return self.db.read(
            lambda c: grants.live_entitlements(c, account.member.id, self.clock.now())
        )

    def state(self, account: Account) -> tuple[int, ...]:
        """What a refusal must leave alone: balance and the rows every purchase writes."""

        def count(conn: Any, table: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        def read(conn: Any) -> tuple[int, ...]:
            tables = (purchases_table, purchase_lines, purchase_revenue, entitlements, journals)
            return (
                queries.balance(conn, account.member.id, self.clock.now()).available,
                *(count(conn, table) for table in (*tables, jobs)),
            )

        return self.db.read(read)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        payloads = self.db.read(
            lambda c: [row.payload for row in c.execute(select(jobs.c.payload).order_by(jobs.c.id))]
        )
        return [p["data"] for p in payloads if p.get("type") == event_type]

    def revenue(self, purchase: Purchase) -> list[tuple[UUID | None, UUID | None, int]]:
        rows = self.db.read(
            lambda c: c.execute(
                select(purchase_revenue.c.product_id, purchase_revenue.c.cp_id,
                       purchase_revenue.c.amount)
                .where(purchase_revenue.c.purchase_id == purchase.id)
                .order_by(purchase_revenue.c.id)
            ).all()
        )  # fmt: skip
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def shop(db: Database, clock: ManualClock) -> Shop:
    return Shop(db, clock)


# --- the split rule (pure) ------------------------------------------------------------------


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12),
)
def test_largest_remainder_split_adds_up_and_stays_within_a_won(
    total: int, weights: list[int]
) -> None:
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    effective = weights if sum(weights) else [1] * len(weights)
    whole = sum(effective)
    for part, weight in zip(parts, effective, strict=True):
        exact_floor = total * weight // whole
        assert exact_floor <= part <= exact_floor + 1
        if weight == 0:
            assert part == 0
    # The extra won go to the largest remainders: nobody got one while a larger remainder did not.
    remainders = [total * w % whole for w in effective]
    bumped = [parts[i] > total * effective[i] // whole for i in range(len(parts))]
    for i, got in enumerate(bumped):
        for j, other in enumerate(bumped):
            if got and not other:
                assert (remainders[i], -i) > (remainders[j], -j)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=8),
    st.integers(min_value=2, max_value=5),
)
def test_split_is_proportional_under_scaling(total: int, weights: list[int], k: int) -> None:
    """Scaling every weight by the same factor changes nothing."""
    assert split_largest_remainder(total, weights) == split_largest_remainder(
        total, [w * k for w in weights]
    )


def test_split_examples() -> None:
    assert split_largest_remainder(1000, [300, 400]) == [429, 571]
    assert split_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert split_largest_remainder(5, [0, 0]) == [3, 2]
    assert split_largest_remainder(7, [0, 5]) == [0, 7]
    with pytest.raises(ValueError, match="nothing"):
        split_largest_remainder(1, [])


# --- every kind end to end ------------------------------------------------------------------


def test_every_kind_end_to_end(shop: Shop) -> None:
    item = shop.product("SWORD", "item", 1_000)
    period = shop.product("VIP30", "period_pass", 3_000)
    quantity = shop.product("TEN-PLAYS", "quantity_pass", 2_000)
    mixed = shop.product("MIXED", "mixed", 5_000)
    coupon = shop.product("HOUR", "time_coupon", 1_200)
    bundle = shop.package("STARTER", 2_500, [(shop.product("SHIELD", price=800), 2)])
    alice = shop.member("alice", paid=50_000)
    start = shop.balance(alice)

    made = shop.buy(
        alice,
        [(item.id, 3), (f"sku:{period.sku}", 2), (quantity.id, 1), (mixed.id, 1), (coupon.id, 2),
         (str(bundle.id), 1)],
    )  # fmt: skip
    assert made.total == 3_000 + 6_000 + 2_000 + 5_000 + 2_400 + 2_500
    assert shop.balance(alice) == start - made.total
    assert [line.amount for line in made.lines] == [3_000, 6_000, 2_000, 5_000, 2_400, 2_500]
    assert all(line.journal_id and line.draws for line in made.lines)

    owned = {e.id: e for e in shop.owned(alice)}
    by_line = [[owned[i] for i in line.entitlement_ids] for line in made.lines]
    assert [(e.kind, e.granted) for e in by_line[0]] == [("item", 3)]
    passes = by_line[1]
    assert [e.kind for e in passes] == ["period_pass", "period_pass"]
    assert passes[1].starts_at == passes[0].ends_at  # buying two: one after the other
    assert [(e.kind, e.granted) for e in by_line[2]] == [("quantity_pass", 10)]
    assert [(e.kind, e.granted) for e in by_line[3]] == [("mixed", 100)]
    assert [(e.kind, e.granted) for e in by_line[4]] == [("time", 120)]
    assert [(e.kind, e.granted) for e in by_line[5]] == [("item", 2)]

    stored = shop.db.read(lambda c: records.get_purchase(c, shop.service.id, made.id))
    assert stored == made
    assert sum(r.amount for r in stored.revenue) == made.total
    [event] = shop.events("purchase.completed")
    assert event["purchase_id"] == str(made.id)
    assert event["total"] == made.total
    assert [ln["entitlement_ids"] for ln in event["lines"]] == [
        [str(i) for i in line.entitlement_ids] for line in made.lines
    ]
    spent = shop.events("cash.spent")
    assert {e["reference"] for e in spent} == {f"purchase:{made.id}"}
    assert len(spent) == 6
    assert_invariants(shop.db)


def test_package_price_is_split_over_the_components_cps(shop: Shop) -> None:
    other = shop.provider("CP B")
    sword = shop.product("SWORD", price=300)
    shield = shop.product("SHIELD", price=200, cp=other)
    potion = shop.product("POTION", price=100, cp=other)
    bundle = shop.package("BUNDLE", 1_000, [(sword, 1), (shield, 2), (potion, 1)])
    alice = shop.member("alice", paid=10_000)

    made = shop.buy(alice, [(bundle.id, 3)])
    # weights 300, 400, 100 (list price x quantity in the package) over 3,000:
    # 1125, 1500, 375 exactly.
    assert sorted(shop.revenue(made), key=lambda r: r[2]) == [
        (potion.id, other.id, 375),
        (sword.id, shop.cp.id, 1_125),
        (shield.id, other.id, 1_500),
    ]
    granted = {e.product_id: e.granted for e in shop.owned(alice)}
    assert granted == {sword.id: 3, shield.id: 6, potion.id: 3}

    odd = shop.package("ODD", 1_001, [(sword, 1), (shield, 2), (potion, 1)])
    made = shop.buy(alice, [(odd.id, 1)])
    amounts = {r[0]: r[2] for r in shop.revenue(made)}
    # 1001 x 3/8 = 375.375, x 4/8 = 500.5, x 1/8 = 125.125: the spare won goes to the shield.
    assert amounts == {sword.id: 375, shield.id: 501, potion.id: 125}
    assert_invariants(shop.db)


# --- gifts ----------------------------------------------------------------------------------


def test_a_gift_is_paid_by_the_buyer_and_owned_by_the_recipient(
    shop: Shop, db: Database, clock: ManualClock
) -> None:
    sword = shop.product("SWORD", price=700, cancel_window_seconds=60)
    alice = shop.member("alice", paid=1_000)
    bob = shop.member("bob")

    made = shop.buy(alice, [(sword.id, 1)], gift_to=bob)
    assert (made.member_id, made.recipient_id) == (alice.member.id, bob.member.id)
    assert shop.balance(alice) == 300
    assert shop.balance(bob) == 0
    assert shop.owned(alice) == []
    assert [e.id for e in shop.owned(bob)] == list(made.lines[0].entitlement_ids)
    [event] = shop.events("purchase.completed")
    assert event["recipient_external_id"] == "bob"

    # Cancelling the gift revokes the recipient's goods and refunds the buyer.
    shop.cancel(made, buyer=alice)
    assert shop.owned(bob) == []
    assert shop.balance(alice) == 1_000

    elsewhere = Shop(db, clock, name="Other")
    stranger = elsewhere.member("carol")
    assert shop.refused(alice, [(sword.id, 1)], gift_to=stranger).code == "recipient_not_found"
    db.write(lambda c: app.change_member_status(c, shop.service, "bob", "closed", clock=clock))
    closed_bob = db.read(lambda c: tenancy.get_member(c, shop.service.id, "bob"))
    closed = Account(shop.service, closed_bob, bob.wallet)
    assert shop.refused(alice, [(sword.id, 1)], gift_to=closed).code == "recipient_closed"
    assert_invariants(db)


# --- limits, sale window, refusals ----------------------------------------------------------


def test_purchase_limit_counts_non_cancelled_quantities_in_the_period(shop: Shop) -> None:
    gem = shop.product("GEM", price=100, limit_count=3, limit_days=7, cancel_window_seconds=3600)
    alice = shop.member("alice", paid=10_000)
    bob = shop.member("bob", paid=10_000)

    first = shop.buy(alice, [(gem.id, 2)])
    error = shop.refused(alice, [(gem.id, 2)])
    assert error.code == "purchase_limit_exceeded"
    assert error.details == {
        "product": str(gem.id), "sku": "GEM", "limit_count": 3, "limit_days": 7,
        "already": 2, "requested": 2,
    }  # fmt: skip
    # Two lines of one product in one purchase count together.
    assert shop.refused(alice, [(gem.id, 1), (gem.id, 1)]).code == "purchase_limit_exceeded"
    shop.buy(alice, [(gem.id, 1)])
    shop.buy(bob, [(gem.id, 3)])  # per member

    shop.cancel(first, buyer=alice)  # a cancelled line no longer counts
    shop.buy(alice, [(gem.id, 2)])
    assert shop.refused(alice, [(gem.id, 1)]).code == "purchase_limit_exceeded"
    shop.clock.advance(timedelta(days=7))
    shop.buy(alice, [(gem.id, 3)])
    assert_invariants(shop.db)


def test_sale_window_and_status(shop: Shop, clock: ManualClock) -> None:
    now = clock.now()
    later = shop.product(
        "LATER", sale_starts_at=now + timedelta(days=1), sale_ends_at=now + timedelta(days=2)
    )
    draft = shop.product("DRAFT", status="draft")
    alice = shop.member("alice", paid=10_000)

    for product in (later, draft):
        assert shop.refused(alice, [(product.id, 1)]).code == "product_not_on_sale"
    clock.advance(timedelta(days=1))
    shop.buy(alice, [(later.id, 1)])
    clock.advance(timedelta(days=1))
    assert shop.refused(alice, [(later.id, 1)]).code == "product_not_on_sale"
    shop.db.write(
        lambda c: products.set_product_status(c, shop.service.id, draft.id, "on_sale", now=now)
    )
    shop.buy(alice, [(draft.id, 1)])
    shop.db.write(
        lambda c: products.set_product_status(c, shop.service.id, draft.id, "off_sale", now=now)
    )
    assert shop.refused(alice, [(draft.id, 1)]).code == "product_not_on_sale"


def test_refusals_change_nothing(shop: Shop, db: Database, clock: ManualClock) -> None:
    sword = shop.product("SWORD", price=600)
    meter = shop.product("METER", "metered")
    theirs = Shop(db, clock, name="Other").product("THEIRS")
    crate = shop.package("CRATE", 1, [(shop.product("ARROW", price=1), 100)])
    alice = shop.member("alice", paid=1_000)

    cases: list[tuple[list[tuple[Any, Any]], str]] = [
        ([(meter.id, 1)], "product_not_purchasable"),
        ([(theirs.id, 1)], "product_not_found"),
        ([("sku:NOPE", 1)], "product_not_found"),
        ([("not-an-id", 1)], "invalid_product"),
        ([(sword.id, 0)], "invalid_quantity"),
        ([(sword.id, -1)], "invalid_quantity"),
        ([(sword.id, 1.0)], "invalid_quantity"),
        ([(sword.id, True)], "invalid_quantity"),
        ([(crate.id, 101)], "invalid_quantity"),  # 10,100 arrows: more than one grant gives
        ([], "invalid_lines"),
        ([(sword.id, 2)], "insufficient_funds"),
        # Two lines that each fit but not together: refused before either is paid.
        ([(sword.id, 1), (sword.id, 1)], "insufficient_funds"),
    ]
    for lines, code in cases:
        error = shop.refused(alice, lines)
        assert error.code == code, (lines, error.code)
    error = shop.refused(alice, [(sword.id, 1), (sword.id, 1)])
    assert error.details == {"requested": 1_200, "available": 1_000}
    assert shop.events("purchase.completed") == []
    assert_invariants(db)


# --- cancellation ---------------------------------------------------------------------------


def test_full_cancel_restores_the_exact_lots_and_zeroes_revenue(shop: Shop) -> None:
    other = shop.provider("CP B")
    sword = shop.product("SWORD", price=500, cancel_window_seconds=3600)
    bundle = shop.package(
        "BUNDLE", 700, [(sword, 1), (shop.product("BOW", price=400, cp=other), 1)],
        cancel_window_seconds=3600,
    )  # fmt: skip
    alice = shop.member("alice", paid=1_000, bonus=300)
    lots_before = _lots(shop, alice)

    made = shop.buy(alice, [(sword.id, 1), (bundle.id, 1)])
    assert [d.cash_kind for d in made.lines[0].draws] == ["bonus", "paid"]  # bonus first
    assert _lots(shop, alice) != lots_before
    shop.clock.advance(timedelta(minutes=30))

    cancelled = shop.cancel(made, buyer=alice)
    assert cancelled.status == "cancelled"
    assert all(line.status == "cancelled" and line.reversal_journal_id for line in cancelled.lines)
    assert _lots(shop, alice) == lots_before
    assert sum(r[2] for r in shop.revenue(made)) == 0
    per_cp: dict[UUID | None, int] = {}
    for _product, cp, amount in shop.revenue(made):
        per_cp[cp] = per_cp.get(cp, 0) + amount
    assert per_cp == {shop.cp.id: 0, other.id: 0}
    assert shop.owned(alice) == []
    [event] = shop.events("purchase.cancelled")
    assert event["status"] == "cancelled"
    assert event["amount"] == 1_200
    assert shop.cancel_refused(made, buyer=alice) == "line_already_cancelled"
    assert_invariants(shop.db)


def test_partial_cancel_and_the_rules(shop: Shop) -> None:
    sword = shop.product("SWORD", price=100, cancel_window_seconds=3600)
    potion = shop.product("POTION", price=50, cancel_window_seconds=3600)
    final = shop.product("FINAL", price=10)  # window 0: never cancellable
    vip = shop.product("VIP", "period_pass", 300, cancel_window_seconds=3600)
    alice = shop.member("alice", paid=10_000)

    made = shop.buy(alice, [(sword.id, 1), (potion.id, 2)])
    sword_line, potion_line = made.lines
    partial = shop.cancel(made, [potion_line.id], buyer=alice)
    assert partial.status == "partially_cancelled"
    assert [ln.status for ln in partial.lines] == ["active", "cancelled"]
    assert shop.balance(alice) == 10_000 - 100
    assert shop.cancel_refused(made, [potion_line.id], buyer=alice) == "line_already_cancelled"
    assert shop.cancel_refused(made, [made.id], buyer=alice) == "purchase_line_not_found"

    # A consumed item is in use: refused, never pro-rated.
    [owned] = [e for e in shop.owned(alice) if e.product_id == sword.id]
    shop.db.write(lambda c: items.consume_item(c, alice.member.id, owned.id, 1, shop.clock.now()))
    assert shop.cancel_refused(made, [sword_line.id], buyer=alice) == "purchase_line_in_use"

    # A started pass is in use; one not yet started (queued after another) is not.
    first = shop.buy(alice, [(vip.id, 1)])
    second = shop.buy(alice, [(vip.id, 1)])
    shop.clock.advance(timedelta(seconds=1))
    assert shop.cancel_refused(first, buyer=alice) == "purchase_line_in_use"
    assert shop.cancel(second, buyer=alice).status == "cancelled"

    never = shop.buy(alice, [(final.id, 1)])
    assert shop.cancel_refused(never, buyer=alice) == "cancel_window_closed"
    late = shop.buy(alice, [(potion.id, 1)])
    shop.clock.advance(timedelta(hours=1))
    assert shop.cancel_refused(late, buyer=alice) == "cancel_window_closed"

    # One refused line refuses the whole request.
    both = shop.buy(alice, [(potion.id, 1), (final.id, 1)])
    assert shop.cancel_refused(both, buyer=alice) == "cancel_window_closed"
    assert shop.cancel(both, [both.lines[0].id], buyer=alice).status == "partially_cancelled"
    assert_invariants(shop.db)


def test_cancel_onto_an_expired_lot_sends_that_cash_to_breakage(shop: Shop) -> None:
    sword = shop.product("SWORD", price=500, cancel_window_seconds=7 * 86_400)
    alice = shop.member("alice")
    shop.db.write(
        lambda c: ledger.grant(
            c, alice.wallet, amount=500, kind="bonus", source="event", actor="test",
            now=shop.clock.now(), expires_at=shop.clock.now() + timedelta(days=1),
        )
    )  # fmt: skip
    made = shop.buy(alice, [(sword.id, 1)])
    shop.clock.advance(timedelta(days=2))
    shop.cancel(made, buyer=alice)
    assert shop.balance(alice) == 0  # the bonus had expired meanwhile
    assert_invariants(shop.db)


def _lots(shop: Shop, account: Account) -> list[tuple[UUID, int]]:
    return [
        (lot.id, lot.remaining)
        for lot in shop.db.read(lambda c: queries.member_lots(c, account.member.id))
    ]


# --- time by the rate card ------------------------------------------------------------------


def test_minutes_by_the_rate_card(shop: Shop) -> None:
    alice = shop.member("alice", paid=5_000)

    def buy(amount: object) -> Purchase:
        return shop.db.write(
            lambda c: buying.buy_minutes(
                c, shop.service, (alice.member, alice.wallet), amount, actor="test",
                now=shop.clock.now(),
            )
        )  # fmt: skip

    for amount, code in ((1_000, "no_time_rate"),):
        with pytest.raises(CofferError) as caught:
            buy(amount)
        assert caught.value.code == code
    shop.db.write(lambda c: time_rates.set_rate(c, shop.service.id, 20, shop.clock.now()))
    for amount, code in ((1_010, "amount_not_whole_minutes"), (10, "amount_not_whole_minutes"),
                         (0, "invalid_amount"), (6_000, "insufficient_funds")):  # fmt: skip
        before = shop.state(alice)
        with pytest.raises(CofferError) as caught:
            buy(amount)
        assert caught.value.code == code
        assert shop.state(alice) == before

    made = buy(1_000)
    [line] = made.lines
    assert (line.kind, line.product_id, line.quantity, line.unit_price) == ("time", None, 50, 20)
    assert [(e.kind, e.granted) for e in shop.owned(alice)] == [("time", 50)]
    assert shop.revenue(made) == [(None, None, 1_000)]
    assert made.quote == {"pricer": "time_rate", "cash_per_minute": 20, "minutes": 50,
                          "total": 1_000}  # fmt: skip
    cancelled = shop.cancel(made, buyer=alice)
    assert cancelled.status == "cancelled"
    assert shop.balance(alice) == 5_000
    assert shop.revenue(made) == [(None, None, 1_000), (None, None, -1_000)]
    assert_invariants(shop.db)


# --- all or nothing -------------------------------------------------------------------------


def test_a_failure_between_the_debit_and_the_grant_leaves_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    sword = shop.product("SWORD", price=300)
    shield = shop.product("SHIELD", price=200)
    alice = shop.member("alice", paid=1_000)
    before = shop.state(alice)
    real = grants.grant_product
    calls: list[str] = []

    def failing(conn: Any, **kwargs: Any) -> list[UUID]:
        calls.append(kwargs["product"].sku)
        if kwargs["product"].sku == "SHIELD":  # after SWORD was paid and granted, SHIELD paid
            raise RuntimeError("injected failure")
        return real(conn, **kwargs)

    monkeypatch.setattr(grants, "grant_product", failing)
    with pytest.raises(RuntimeError, match="injected"):
        shop.buy(alice, [(sword.id, 1), (shield.id, 1)])
    assert calls == ["SWORD", "SHIELD"]
    assert shop.state(alice) == before
    assert shop.balance(alice) == 1_000
    monkeypatch.setattr(grants, "grant_product", real)
    shop.buy(alice, [(sword.id, 1), (shield.id, 1)])
    assert shop.balance(alice) == 500
    assert_invariants(shop.db)


def test_a_price_change_does_not_touch_past_purchases(shop: Shop) -> None:
    sword = shop.product("SWORD", price=300, cancel_window_seconds=60)
    alice = shop.member("alice", paid=1_000)
    made = shop.buy(alice, [(sword.id, 1)])
    shop.db.write(
        lambda c: c.execute(
            products_table.update().where(products_table.c.id == sword.id).values(price=900)
        )
    )
    shop.cancel(made, buyer=alice)
    assert shop.balance(alice) == 1_000  # refunds what was paid, not today's price
    assert made.quote is not None
    assert made.quote["lines"][0]["unit_price"] == 300


def test_member_purchases_lists_bought_and_received_newest_first(shop: Shop) -> None:
    sword = shop.product("SWORD", price=10)
    alice = shop.member("alice", paid=1_000)
    bob = shop.member("bob", paid=1_000)
    mine = shop.buy(alice, [(sword.id, 1)])
    gift = shop.buy(bob, [(sword.id, 1)], gift_to=alice)
    shop.buy(bob, [(sword.id, 1)])

    def page(member: Account, before: UUID | None = None) -> list[UUID]:
        return [
            p.id
            for p in shop.db.read(
                lambda c: records.member_purchases(
                    c, shop.service.id, member.member.id, before=before, limit=10
                )
            )
        ]

    assert page(alice) == [gift.id, mine.id]
    assert page(alice, before=gift.id) == [mine.id]
    assert len(page(bob)) == 2
