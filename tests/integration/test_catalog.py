"""Catalog use cases on both databases: CPs, the menu tree, every product kind, packages,
placements, the sale window and the time rate card. Every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer.catalog import categories, packages, products, providers, tables, time_rates
from coffer.catalog.model import Category, ContentProvider, Product, is_on_sale
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError, Conflict, InvalidInput, NotFound
from tests.ledger_helpers import new_service

T = TypeVar("T")
Work = Callable[[Connection], object]
TABLES = (
    tables.content_providers,
    tables.categories,
    tables.products,
    tables.product_categories,
    tables.package_components,
    tables.time_rates,
)


@dataclass
class Shop:
    """One service's catalog, with shortcuts that assert success."""

    db: Database
    clock: ManualClock
    service_id: UUID
    cp_id: UUID

    def write(self, work: Callable[[Connection], T]) -> T:
        return self.db.write(work)

    def read(self, work: Callable[[Connection], T]) -> T:
        return self.db.read(work)

    def category(self, name: str, parent: UUID | None = None, **extra: Any) -> Category:
        return self.write(
            lambda c: categories.create_category(
                c, self.service_id, name_ko=name, name_en=name, parent_id=parent,
                now=self.clock.now(), **extra,
            )
        )  # fmt: skip

    def spec(self, sku: str, kind: str = "item", **fields: Any) -> dict[str, Any]:
        return {**SPECS[kind], "sku": sku, "cp_id": self.cp_id, **fields}

    def create(self, spec: dict[str, Any], status: str = "draft") -> Work:
        return lambda c: products.create_product(
            c, self.service_id, spec, now=self.clock.now(), status=status
        )

    def product(self, sku: str, kind: str = "item", **fields: Any) -> Product:
        made = self.write(self.create(self.spec(sku, kind, **fields)))
        assert isinstance(made, Product)
        return made

    def move(
        self, category: Category, parent: Category | None, position: int | None = None
    ) -> Work:
        parent_id = None if parent is None else parent.id
        return lambda c: categories.move_category(
            c, self.service_id, category.id, parent_id=parent_id, position=position,
            now=self.clock.now(),
        )  # fmt: skip

    def status(self, product: Product, status: str) -> Product:
        return self.write(
            lambda c: products.set_product_status(
                c, self.service_id, product.id, status, now=self.clock.now()
            )
        )

    def tree(self) -> list[tuple[str, list[Any]]]:
        """The tree as (name, children) pairs, in order."""

        def shape(nodes: Any) -> list[Any]:
            return [(n.category.name_en, shape(n.children)) for n in nodes]

        return shape(self.read(lambda c: categories.category_tree(c, self.service_id)))

    def positions(self, parent: UUID | None) -> list[tuple[str, int]]:
        rows = self.read(lambda c: categories.list_categories(c, self.service_id))
        return [(r.name_en, r.position) for r in rows if r.parent_id == parent]


def contents(db: Database) -> list[list[str]]:
    """Every row of every catalog table: what a refused call must leave as it was."""

    def read(conn: Connection) -> list[list[str]]:
        return [sorted(repr(tuple(row)) for row in conn.execute(select(t))) for t in TABLES]

    return db.read(read)


def refused(shop: Shop, error: type[CofferError], code: str, work: Work) -> None:
    """``work`` fails with ``error`` and ``code``, and the catalog is as it was."""
    before = contents(shop.db)
    with pytest.raises(error) as caught:
        shop.write(work)
    assert caught.value.code == code
    assert contents(shop.db) == before


SPECS: dict[str, dict[str, Any]] = {
    "item": {"kind": "item", "name_ko": "검", "name_en": "Sword", "price": 1000},
    "period_pass": {
        "kind": "period_pass", "name_ko": "월정액", "name_en": "Monthly", "price": 9900,
        "pass_days": 30,
    },
    "quantity_pass": {
        "kind": "quantity_pass", "name_ko": "10회권", "name_en": "Ten plays", "price": 5000,
        "units": 10, "unit_name": "unit",
    },
    "metered": {
        "kind": "metered", "name_ko": "종량", "name_en": "Per minute", "unit_price": 20,
        "unit_name": "minute", "min_balance": 200,
    },
    "mixed": {
        "kind": "mixed", "name_ko": "혼합", "name_en": "Mixed", "price": 15000, "pass_days": 30,
        "units": 600, "unit_name": "minute", "unit_price": 15,
    },
    "package": {"kind": "package", "name_ko": "묶음", "name_en": "Bundle", "price": 20000},
    "time_coupon": {
        "kind": "time_coupon", "name_ko": "시간", "name_en": "Hour", "price": 1200, "minutes": 60,
    },
}  # fmt: skip


@pytest.fixture
def shop(db: Database, clock: ManualClock) -> Shop:
    service = new_service(db, clock, name="Game")
    cp = db.write(
        lambda c: providers.create_provider(c, service.id, name="Studio", now=clock.now())
    )
    return Shop(db, clock, service.id, cp.id)


@pytest.fixture
def other(db: Database, clock: ManualClock) -> Shop:
    service = new_service(db, clock, name="Other")
    cp = db.write(lambda c: providers.create_provider(c, service.id, name="Else", now=clock.now()))
    return Shop(db, clock, service.id, cp.id)


# --- content providers ----------------------------------------------------------------------


def test_providers_create_update_and_list(shop: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    cp = shop.write(
        lambda c: providers.create_provider(c, sid, name="  Pixel Co ", contact="a@b.c", now=now)
    )
    assert (cp.name, cp.contact, cp.status) == ("Pixel Co", "a@b.c", "active")
    shop.clock.advance(timedelta(hours=1))
    later = shop.clock.now()
    renamed = shop.write(
        lambda c: providers.update_provider(c, sid, cp.id, name="Pixel", contact="", now=later)
    )
    assert (renamed.name, renamed.contact, renamed.updated_at) == ("Pixel", "", later)
    names = [p.name for p in shop.read(lambda c: providers.list_providers(c, sid))]
    assert names == ["Pixel", "Studio"]

    refused(shop, Conflict, "cp_name_taken", lambda c: providers.create_provider(
        c, sid, name="Studio", now=now
    ))  # fmt: skip
    refused(shop, Conflict, "cp_name_taken", lambda c: providers.update_provider(
        c, sid, cp.id, name="Studio", now=now
    ))  # fmt: skip
    for bad in ("", "   ", "a\x00b", "x" * 201):
        refused(shop, InvalidInput, "invalid_cp_name", lambda c, b=bad: providers.create_provider(
            c, sid, name=b, now=now
        ))  # fmt: skip


def test_provider_status_and_its_products(shop: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    sword = shop.status(shop.product("sword"), "on_sale")

    def to(status: str) -> Callable[[Connection], ContentProvider]:
        return lambda c: providers.set_provider_status(c, sid, shop.cp_id, status, now=now)

    refused(shop, Conflict, "cp_has_products_on_sale", to("inactive"))
    shop.status(sword, "off_sale")
    assert shop.write(to("inactive")).status == "inactive"
    assert shop.write(to("inactive")).status == "inactive"  # the same again: no-op
    refused(shop, Conflict, "cp_inactive", shop.create(shop.spec("axe")))
    refused(shop, Conflict, "cp_inactive", lambda c: products.set_product_status(
        c, sid, sword.id, "on_sale", now=now
    ))  # fmt: skip
    refused(shop, InvalidInput, "invalid_cp_status", to("gone"))
    shop.write(to("active"))
    assert shop.status(sword, "on_sale").status == "on_sale"


def test_another_services_provider_is_not_found(shop: Shop, other: Shop) -> None:
    with pytest.raises(NotFound) as caught:
        shop.read(lambda c: providers.get_provider(c, shop.service_id, other.cp_id))
    assert caught.value.code == "cp_not_found"
    refused(shop, NotFound, "cp_not_found", shop.create(shop.spec("x", cp_id=other.cp_id)))


# --- the menu tree --------------------------------------------------------------------------


def test_create_places_siblings_densely(shop: Shop) -> None:
    games = shop.category("Games")
    shop.category("Items")
    shop.category("Events", position=0)
    shop.category("Sale", position=2)
    assert shop.positions(None) == [("Events", 0), ("Games", 1), ("Sale", 2), ("Items", 3)]
    shop.category("RPG", games.id)
    shop.category("Puzzle", games.id, position=0)
    assert shop.tree() == [
        ("Events", []),
        ("Games", [("Puzzle", []), ("RPG", [])]),
        ("Sale", []),
        ("Items", []),
    ]
    sid, now = shop.service_id, shop.clock.now()
    refused(shop, InvalidInput, "invalid_position", lambda c: categories.create_category(
        c, sid, name_ko="x", name_en="x", position=5, now=now
    ))  # fmt: skip
    refused(shop, InvalidInput, "invalid_name", lambda c: categories.create_category(
        c, sid, name_ko="", name_en="x", now=now
    ))  # fmt: skip


def test_move_a_subtree_and_reorder(shop: Shop) -> None:
    games = shop.category("Games")
    rpg = shop.category("RPG", games.id)
    shop.category("Fantasy", rpg.id)
    puzzle = shop.category("Puzzle", games.id)
    items = shop.category("Items")
    shop.category("Potions", items.id)

    moved = shop.write(shop.move(rpg, items, 0))
    assert isinstance(moved, Category)
    assert (moved.parent_id, moved.position) == (items.id, 0)
    assert shop.tree() == [
        ("Games", [("Puzzle", [])]),
        ("Items", [("RPG", [("Fantasy", [])]), ("Potions", [])]),
    ]
    assert shop.positions(games.id) == [("Puzzle", 0)]
    assert shop.positions(items.id) == [("RPG", 0), ("Potions", 1)]

    shop.write(shop.move(rpg, items, 1))  # reorder: the same parent, another position
    assert shop.positions(items.id) == [("Potions", 0), ("RPG", 1)]
    shop.write(shop.move(items, None, 0))
    assert shop.positions(None) == [("Items", 0), ("Games", 1)]
    shop.write(shop.move(puzzle, None))  # at the end by default
    assert shop.positions(None) == [("Items", 0), ("Games", 1), ("Puzzle", 2)]
    assert shop.positions(games.id) == []
    refused(shop, InvalidInput, "invalid_position", shop.move(puzzle, None, 3))


def test_a_move_into_its_own_subtree_is_refused(shop: Shop, other: Shop) -> None:
    games = shop.category("Games")
    rpg = shop.category("RPG", games.id)
    fantasy = shop.category("Fantasy", rpg.id)
    for target in (games, rpg, fantasy):
        refused(shop, Conflict, "category_cycle", shop.move(games, target))
    elsewhere = other.category("Elsewhere")
    refused(shop, NotFound, "category_not_found", shop.move(rpg, elsewhere))
    refused(shop, NotFound, "category_not_found", other.move(rpg, None))
    refused(shop, NotFound, "category_not_found", lambda c: categories.create_category(
        c, shop.service_id, name_ko="x", name_en="x", parent_id=elsewhere.id,
        now=shop.clock.now(),
    ))  # fmt: skip
    assert shop.tree() == [("Games", [("RPG", [("Fantasy", [])])])]


def test_reorder_children_names_each_child_once(shop: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    a, b, c_ = shop.category("A"), shop.category("B"), shop.category("C")

    def order(ids: list[UUID]) -> Callable[[Connection], list[Category]]:
        return lambda c: categories.reorder_children(c, sid, None, ids, now=now)

    ordered = shop.write(order([c_.id, a.id, b.id]))
    assert [(x.name_en, x.position) for x in ordered] == [("C", 0), ("A", 1), ("B", 2)]
    for ids in ([a.id, b.id], [a.id, a.id, b.id], [a.id, b.id, c_.id, c_.id]):
        refused(shop, InvalidInput, "invalid_order", order(ids))


def test_rename_hide_and_delete(shop: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    games = shop.category("Games")
    rpg = shop.category("RPG", games.id)
    items = shop.category("Items")
    shop.category("Last")
    renamed = shop.write(lambda c: categories.rename_category(
        c, sid, items.id, name_ko="아이템", name_en="Goods", now=now
    ))  # fmt: skip
    assert (renamed.name_ko, renamed.name_en) == ("아이템", "Goods")

    shop.write(lambda c: categories.set_category_visible(c, sid, games.id, False, now=now))
    visible = shop.read(lambda c: categories.category_tree(c, sid, visible_only=True))
    assert [n.category.name_en for n in visible] == ["Goods", "Last"]
    assert len(shop.tree()) == 3

    def delete(category: Category) -> Work:
        return lambda c: categories.delete_category(c, sid, category.id, now=now)

    sword = shop.product("sword")
    shop.write(lambda c: categories.set_product_categories(c, sid, sword.id, [items.id]))
    for doomed in (games, items):
        refused(shop, Conflict, "category_not_empty", delete(doomed))
    shop.write(delete(rpg))
    shop.write(delete(games))
    assert shop.positions(None) == [("Goods", 0), ("Last", 1)]
    with pytest.raises(NotFound):
        shop.read(lambda c: categories.get_category(c, sid, games.id))


# --- products of every kind -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SPECS))
def test_every_kind_is_created_with_its_fields(shop: Shop, kind: str) -> None:
    product = shop.product(f"sku-{kind}", kind)
    assert product.kind == kind
    assert product.status == "draft"
    assert product.cancel_window_seconds == 0
    assert product.consumable == (False if kind == "item" else None)
    assert (product.min_balance is not None) == (kind == "metered")
    assert product.price == (0 if kind == "metered" else SPECS[kind]["price"])
    for field in ("pass_days", "units", "unit_name", "unit_price", "minutes"):
        assert getattr(product, field) == SPECS[kind].get(field), field
    assert shop.read(lambda c: products.product_by_sku(c, shop.service_id, product.sku)) == product


INVALID: dict[str, tuple[str, dict[str, Any], str]] = {
    "unknown-kind": ("item", {"kind": "gift"}, "invalid_product_kind"),
    "no-kind": ("item", {"kind": None}, "missing_kind"),
    "unknown-field": ("item", {"colour": "red"}, "unknown_field"),
    "period-without-days": ("period_pass", {"pass_days": None}, "missing_pass_days"),
    "period-zero-days": ("period_pass", {"pass_days": 0}, "invalid_pass_days"),
    "item-with-days": ("item", {"pass_days": 3}, "unexpected_field"),
    "coupon-with-units": ("time_coupon", {"units": 3}, "unexpected_field"),
    "package-consumable": ("package", {"consumable": True}, "unexpected_field"),
    "quantity-without-units": ("quantity_pass", {"units": None}, "missing_units"),
    "quantity-without-unit-name": ("quantity_pass", {"unit_name": None}, "missing_unit_name"),
    "bad-unit-name": ("quantity_pass", {"unit_name": "hour"}, "invalid_unit_name"),
    "metered-without-unit-price": ("metered", {"unit_price": None}, "missing_unit_price"),
    "metered-with-price": ("metered", {"price": 100}, "invalid_price"),
    "metered-negative-balance": ("metered", {"min_balance": -1}, "invalid_min_balance"),
    "mixed-without-units": ("mixed", {"units": None}, "missing_units"),
    "mixed-with-minutes": ("mixed", {"minutes": 5}, "unexpected_field"),
    "coupon-without-minutes": ("time_coupon", {"minutes": None}, "missing_minutes"),
    "coupon-float-minutes": ("time_coupon", {"minutes": 1.5}, "invalid_minutes"),
    "zero-price": ("item", {"price": 0}, "invalid_price"),
    "no-price": ("item", {"price": None}, "missing_price"),
    "float-price": ("item", {"price": 100.0}, "invalid_price"),
    "string-price": ("item", {"price": "100"}, "invalid_price"),
    "bool-price": ("item", {"price": True}, "invalid_price"),
    "huge-price": ("item", {"price": 2**53 + 1}, "invalid_price"),
    "bool-consumable": ("item", {"consumable": "yes"}, "invalid_consumable"),
    "bad-sku": ("item", {"sku": "has space"}, "invalid_sku"),
    "long-sku": ("item", {"sku": "x" * 101}, "invalid_sku"),
    "no-name": ("item", {"name_en": " "}, "invalid_name"),
    "nul-description": ("item", {"description_ko": "a\x00"}, "invalid_description"),
    "half-limit": ("item", {"limit_count": 3}, "invalid_purchase_limit"),
    "zero-limit": ("item", {"limit_count": 0, "limit_days": 1}, "invalid_purchase_limit"),
    "negative-cancel-window": ("item", {"cancel_window_seconds": -1}, "invalid_cancel_window"),
    "naive-sale-start": ("item", {"sale_starts_at": "2026-03-01"}, "invalid_sale_window"),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_products_are_refused(shop: Shop, name: str) -> None:
    kind, changes, code = INVALID[name]
    refused(shop, InvalidInput, code, shop.create({**shop.spec("bad", kind), **changes}))


def test_sale_window_order_and_sku_taken(shop: Shop) -> None:
    now = shop.clock.now()
    window: dict[str, Any] = {
        "sale_starts_at": now + timedelta(days=2),
        "sale_ends_at": now + timedelta(days=1),
    }
    refused(shop, InvalidInput, "invalid_sale_window", shop.create(shop.spec("w", **window)))
    shop.product("w")
    refused(shop, Conflict, "sku_taken", shop.create(shop.spec("w", "period_pass")))


def test_update_checks_the_whole_product(shop: Shop) -> None:
    sid = shop.service_id
    pass_ = shop.product("monthly", "period_pass", limit_count=1, limit_days=30)
    shop.product("other")
    shop.clock.advance(timedelta(minutes=5))
    now = shop.clock.now()

    def change(**changes: Any) -> Callable[[Connection], Product]:
        return lambda c: products.update_product(c, sid, pass_.id, changes, now=now)

    updated = shop.write(change(price=12000, pass_days=31, sale_ends_at=now + timedelta(days=9)))
    assert (updated.price, updated.pass_days, updated.updated_at) == (12000, 31, now)
    assert updated.sale_ends_at == now + timedelta(days=9)
    cleared = shop.write(change(sale_ends_at=None, limit_count=None, limit_days=None))
    assert (cleared.sale_ends_at, cleared.limit_count, cleared.limit_days) == (None, None, None)
    assert shop.write(change(price=12000)) == cleared  # nothing to change
    renamed = shop.write(change(sku="monthly-2"))
    assert renamed.sku == "monthly-2"

    refused(shop, InvalidInput, "kind_unchangeable", change(kind="item"))
    refused(shop, InvalidInput, "unexpected_field", change(units=5))
    refused(shop, InvalidInput, "missing_pass_days", change(pass_days=None))
    refused(shop, InvalidInput, "invalid_purchase_limit", change(limit_count=2))
    refused(shop, InvalidInput, "unknown_field", change(status="on_sale"))
    refused(shop, Conflict, "sku_taken", change(sku="other"))


def test_status_moves(shop: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    sword = shop.product("sword")

    def to(status: str) -> Callable[[Connection], Product]:
        return lambda c: products.set_product_status(c, sid, sword.id, status, now=now)

    refused(shop, Conflict, "invalid_status_change", to("off_sale"))
    refused(shop, InvalidInput, "invalid_product_status", to("sold"))
    assert shop.write(to("on_sale")).status == "on_sale"
    assert shop.write(to("on_sale")).status == "on_sale"  # the same again: no-op
    refused(shop, Conflict, "invalid_status_change", to("draft"))
    assert shop.write(to("off_sale")).status == "off_sale"
    assert shop.write(to("on_sale")).status == "on_sale"
    on_create = shop.write(shop.create(shop.spec("axe"), status="on_sale"))
    assert isinstance(on_create, Product)
    assert on_create.status == "on_sale"
    refused(shop, Conflict, "invalid_status_change", shop.create(shop.spec("x"), "off_sale"))


def test_products_on_sale_follow_status_and_window(shop: Shop, other: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    shop.status(shop.product("always"), "on_sale")
    shop.status(shop.product("later", sale_starts_at=now + timedelta(days=1)), "on_sale")
    shop.status(shop.product("ending", sale_ends_at=now + timedelta(hours=1)), "on_sale")
    shop.product("draft")
    shop.status(shop.status(shop.product("stopped"), "on_sale"), "off_sale")
    other.status(other.product("theirs"), "on_sale")

    def on_sale() -> list[str]:
        found = shop.read(lambda c: products.products_on_sale(c, sid, shop.clock.now()))
        assert all(is_on_sale(p, shop.clock.now()) for p in found)
        return [p.sku for p in found]

    assert on_sale() == ["always", "ending"]
    shop.clock.advance(timedelta(hours=1))
    assert on_sale() == ["always"]
    shop.clock.advance(timedelta(days=1))
    assert on_sale() == ["always", "later"]


def test_lookups_are_scoped_to_the_service(shop: Shop, other: Shop) -> None:
    sid, theirs = shop.service_id, other.product("theirs")
    for work in (
        lambda c: products.get_product(c, sid, theirs.id),
        lambda c: products.product_by_sku(c, sid, "theirs"),
        lambda c: products.set_product_status(c, sid, theirs.id, "on_sale", now=shop.clock.now()),
    ):
        refused(shop, NotFound, "product_not_found", work)
    assert shop.read(lambda c: products.list_products(c, sid)) == []


def test_list_products_filters_and_pages(shop: Shop) -> None:
    sid = shop.service_id
    made = [shop.product(f"p{i}", kind) for i, kind in enumerate(["item", "metered", "item"])]
    shop.status(made[2], "on_sale")
    games = shop.category("Games")
    shop.write(lambda c: categories.set_product_categories(c, sid, made[1].id, [games.id]))

    def skus(**filters: Any) -> list[str]:
        return [p.sku for p in shop.read(lambda c: products.list_products(c, sid, **filters))]

    assert skus() == ["p0", "p1", "p2"]
    assert skus(kind="item") == ["p0", "p2"]
    assert skus(status="on_sale") == ["p2"]
    assert skus(category_id=games.id) == ["p1"]
    assert skus(limit=2) == ["p0", "p1"]
    assert skus(after=made[1].id) == ["p2"]
    with pytest.raises(InvalidInput):
        skus(kind="gift")


# --- packages -------------------------------------------------------------------------------


def test_package_components(shop: Shop, other: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    bundle = shop.product("bundle", "package")
    sword = shop.product("sword")
    monthly = shop.product("a-monthly", "period_pass")
    metered = shop.product("meter", "metered")
    inner = shop.product("inner", "package")
    theirs = other.product("theirs")

    def compose(
        pairs: list[tuple[UUID, Any]], package: UUID = bundle.id
    ) -> Callable[[Connection], list[tuple[Product, int]]]:
        return lambda c: packages.set_package_components(c, sid, package, pairs, now=now)

    refused(shop, Conflict, "package_empty", lambda c: products.set_product_status(
        c, sid, bundle.id, "on_sale", now=now
    ))  # fmt: skip
    got = shop.write(compose([(sword.id, 2), (monthly.id, 1)]))
    assert got == shop.read(lambda c: products.package_components(c, bundle.id))
    assert [(p.sku, q) for p, q in got] == [("a-monthly", 1), ("sword", 2)]

    refused(shop, InvalidInput, "package_empty", compose([]))
    refused(shop, InvalidInput, "nested_package", compose([(inner.id, 1)]))
    refused(shop, InvalidInput, "nested_package", compose([(bundle.id, 1)]))
    refused(shop, InvalidInput, "metered_component", compose([(metered.id, 1)]))
    refused(shop, InvalidInput, "duplicate_component", compose([(sword.id, 1), (sword.id, 1)]))
    refused(shop, InvalidInput, "invalid_quantity", compose([(sword.id, 0)]))
    refused(shop, InvalidInput, "invalid_quantity", compose([(sword.id, 1.0)]))
    refused(shop, NotFound, "component_not_found", compose([(theirs.id, 1)]))
    refused(shop, InvalidInput, "not_a_package", compose([(monthly.id, 1)], package=sword.id))
    refused(shop, NotFound, "product_not_found", compose([(sword.id, 1)], package=theirs.id))

    replaced = shop.write(compose([(sword.id, 5)]))
    assert [(p.sku, q) for p, q in replaced] == [("sword", 5)]
    assert shop.status(bundle, "on_sale").status == "on_sale"


# --- products in categories -----------------------------------------------------------------


def test_products_in_several_categories(shop: Shop, other: Shop) -> None:
    sid, now = shop.service_id, shop.clock.now()
    games, sale = shop.category("Games"), shop.category("Sale")
    a, b, c_ = (shop.status(shop.product(s), "on_sale") for s in ("a", "b", "c"))

    def place(product: Product, ids: list[UUID]) -> Callable[[Connection], list[UUID]]:
        return lambda c: categories.set_product_categories(c, sid, product.id, ids)

    def in_category(category: Category) -> list[str]:
        found = shop.read(lambda c: products.products_on_sale(c, sid, now, category_id=category.id))
        return [p.sku for p in found]

    assert shop.write(place(a, [games.id, sale.id])) == sorted([games.id, sale.id])
    shop.write(place(b, [games.id]))
    shop.write(place(c_, [games.id, sale.id]))
    shop.write(lambda c: categories.place_product(c, sid, c_.id, games.id, position=0))
    assert in_category(games) == ["c", "a", "b"]
    assert in_category(sale) == ["a", "c"]
    shop.write(place(a, [sale.id]))
    assert in_category(games) == ["c", "b"]
    shop.write(lambda c: categories.remove_product(c, sid, c_.id, games.id))
    assert in_category(games) == ["b"]
    by_category = shop.read(lambda c: products.on_sale_by_category(c, sid, now))
    assert {k: [p.sku for p in v] for k, v in by_category.items()} == {
        games.id: ["b"],
        sale.id: ["a", "c"],
    }
    placed = tables.product_categories.c
    positions = shop.read(
        lambda c: c.execute(
            select(placed.position).where(placed.category_id == sale.id).order_by(placed.position)
        ).scalars().all()
    )  # fmt: skip
    assert list(positions) == [0, 1]

    elsewhere = other.category("Elsewhere")
    refused(shop, NotFound, "category_not_found", place(a, [elsewhere.id]))
    refused(shop, InvalidInput, "duplicate_category", place(a, [games.id, games.id]))
    refused(shop, NotFound, "product_not_placed", lambda c: categories.remove_product(
        c, sid, a.id, games.id
    ))  # fmt: skip
    refused(shop, InvalidInput, "invalid_position", lambda c: categories.place_product(
        c, sid, a.id, games.id, position=9
    ))  # fmt: skip


# --- the time rate card ---------------------------------------------------------------------


def test_time_rate(shop: Shop, other: Shop) -> None:
    sid = shop.service_id
    assert shop.read(lambda c: time_rates.get_rate(c, sid)) is None
    shop.write(lambda c: time_rates.set_rate(c, sid, 20, shop.clock.now()))
    shop.write(lambda c: time_rates.set_rate(c, sid, 25, shop.clock.now()))
    assert shop.read(lambda c: time_rates.get_rate(c, sid)) == 25
    assert shop.read(lambda c: time_rates.get_rate(c, other.service_id)) is None
    for bad in (0, -1, 1.5, "20", True):
        refused(shop, InvalidInput, "invalid_rate", lambda c, b=bad: time_rates.set_rate(
            c, sid, b, shop.clock.now()
        ))  # fmt: skip


def test_ancestors_of_products_walk_up_from_every_placement(shop: Shop, other: Shop) -> None:
    """What a menu-scoped discount matches: each menu a product sits in and all above it."""
    games = shop.category("Games")
    rpg = shop.category("RPG", games.id)
    swords = shop.category("Swords", rpg.id)
    gifts = shop.category("Gifts")
    sword, lone, foreign = shop.product("SWORD"), shop.product("LONE"), other.product("X")
    for product, menu in ((sword, swords), (sword, gifts)):
        shop.write(lambda c, p=product, m=menu: categories.place_product(c, shop.service_id,
                                                                        p.id, m.id))  # fmt: skip
    found = shop.read(
        lambda c: categories.ancestors_of_products(
            c, shop.service_id, [sword.id, lone.id, sword.id, foreign.id]
        )
    )
    assert found == {
        sword.id: frozenset({swords.id, rpg.id, games.id, gifts.id}),
        lone.id: frozenset(),
        foreign.id: frozenset(),  # another service's product: nothing of this service's tree
    }
    assert shop.read(lambda c: categories.ancestors_of_products(c, shop.service_id, [])) == {}
