"""The admin catalog editor: the menu tree, products of every kind, package contents, content
providers and the time rate card; permissions, audit rows, and bad input that changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer.catalog import categories, products, providers, time_rates
from coffer.catalog.categories import CategoryNode
from coffer.catalog.model import Category, ContentProvider, Product
from coffer.catalog.product_fields import KIND_FIELDS
from coffer.catalog.tables import PRODUCT_KINDS, package_components, product_categories
from coffer.catalog.tables import categories as categories_table
from coffer.catalog.tables import products as products_table
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows

#: The kind-specific fields of each kind's form, as typed by an operator.
KIND_FORM: dict[str, dict[str, str]] = {
    "item": {"consumable": "on"},
    "period_pass": {"pass_days": "30"},
    "quantity_pass": {"units": "10", "unit_name": "unit"},
    "metered": {"unit_price": "15", "unit_name": "minute", "min_balance": "100"},
    "mixed": {"pass_days": "7", "units": "60", "unit_price": "20", "unit_name": "minute"},
    "package": {},
    "time_coupon": {"minutes": "120"},
}
SPECIFIC = ("consumable", "pass_days", "units", "unit_name", "unit_price", "min_balance", "minutes")


@pytest.fixture
def desk(db: Database, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk(db, clock)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    return desk.service("Acme")


def _admin(desk: Desk, role: str) -> Admin:
    admin = desk.admin(role)
    admin.client.headers["Accept-Language"] = "en"
    return admin


@pytest.fixture
def operator(desk: Desk) -> Admin:
    return _admin(desk, "operator")


def _cp(db: Database, clock: ManualClock, service: Service, name: str = "CP A") -> ContentProvider:
    return db.write(lambda c: providers.create_provider(c, service.id, name=name, now=clock.now()))


def _category(
    db: Database, clock: ManualClock, service: Service, name: str, parent: Category | None = None
) -> Category:
    return db.write(
        lambda c: categories.create_category(
            c, service.id, name_ko=f"{name}-ko", name_en=name,
            parent_id=parent.id if parent else None, now=clock.now(),
        )
    )  # fmt: skip


def _product(
    db: Database,
    clock: ManualClock,
    service: Service,
    cp: ContentProvider,
    sku: str,
    kind: str = "item",
    *,
    status: str = "draft",
    **fields: Any,
) -> Product:
    by_kind: dict[str, dict[str, Any]] = {
        "item": {"consumable": True},
        "period_pass": {"pass_days": 30},
        "quantity_pass": {"units": 10, "unit_name": "unit"},
        "metered": {"unit_price": 10, "unit_name": "unit", "min_balance": 0},
        "mixed": {"pass_days": 30, "units": 100, "unit_price": 5, "unit_name": "minute"},
        "package": {},
        "time_coupon": {"minutes": 60},
    }
    specific = by_kind[kind]
    spec: dict[str, Any] = {
        "sku": sku, "kind": kind, "cp_id": cp.id, "name_ko": f"{sku}-ko", "name_en": sku,
        **specific, **fields,
    }  # fmt: skip
    if kind != "metered":
        spec.setdefault("price", 1_000)
    return db.write(
        lambda c: products.create_product(c, service.id, spec, now=clock.now(), status=status)
    )


def _tree(db: Database, service: Service) -> list[tuple[str, list[Any]]]:
    """The tree as (English name, children) pairs, in order."""

    def shape(nodes: tuple[CategoryNode, ...] | list[CategoryNode]) -> list[tuple[str, list[Any]]]:
        return [(n.category.name_en, shape(n.children)) for n in nodes]

    return shape(db.read(lambda c: categories.category_tree(c, service.id)))


def _catalog_rows(db: Database) -> tuple[Any, ...]:
    """Every catalog row (what a refusal must leave alone)."""

    def read(conn: Connection) -> tuple[Any, ...]:
        return tuple(
            tuple(sorted(repr(tuple(row)) for row in conn.execute(select(table))))
            for table in (categories_table, products_table, product_categories, package_components)
        )

    return db.read(read)


def _base(service: Service) -> str:
    return f"/admin/catalog/{service.id}"


class _Form(HTMLParser):
    """The values a browser would send for the form with ``data-testid`` (no button pressed)."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid, self.inside = testid, False
        self.values: dict[str, str] = {}
        self._text: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("data-testid") == self.testid
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._text = a["name"]
            self.values[self._text] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._text = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self.inside and self._text:
            self.values[self._text] += data


def form_values(html: str, testid: str) -> dict[str, str]:
    parser = _Form(testid)
    parser.feed(html)
    values: dict[str, str] = parser.values
    values.pop("csrf_token", None)
    return values


def _error(html: str, form: str, field: str) -> str:
    found = re.search(rf'data-testid="{re.escape(form)}-error-{re.escape(field)}">([^<]*)<', html)
    assert found, f"no error for {form}.{field} on the page"
    return found.group(1)


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "accountant", "cs"])
def test_viewing_roles_see_the_catalog_without_edit_forms(
    desk: Desk, db: Database, clock: ManualClock, service: Service, role: str
) -> None:
    cp = _cp(db, clock, service)
    games = _category(db, clock, service, "Games")
    product = _product(db, clock, service, cp, "sword")
    admin = _admin(desk, role)
    home = admin.get("/admin/")
    assert 'href="/admin/catalog"' in home.text
    for path in ("", "/products", f"/products/{product.id}", "/providers", "/time-rate"):
        page = admin.get(_base(service) + path)
        assert page.status_code == 200, (path, page.status_code)
        main = page.text.split("</header>", 1)[1]
        assert 'method="post"' not in main, path  # nothing to change
    tree = admin.get(_base(service)).text
    assert f'data-testid="category-{games.id}"' in tree
    assert "create-category-form" not in tree
    assert "move-form-" not in tree
    assert admin.get(f"{_base(service)}/products/new?kind=item").status_code == 403
    before = _catalog_rows(db)
    refused = admin.post(f"{_base(service)}/categories", {"name_ko": "x", "name_en": "x"})
    assert refused.status_code == 403
    assert "You do not have permission to edit the catalog" in refused.text
    assert _catalog_rows(db) == before


def test_a_marketer_may_edit_with_an_audit_row(desk: Desk, db: Database, service: Service) -> None:
    marketer = _admin(desk, "marketer")
    made = marketer.post(f"{_base(service)}/categories", {"name_ko": "게임", "name_en": "Games"})
    assert made.status_code == 303
    assert _tree(db, service) == [("Games", [])]
    (row,) = audit_rows(db, "catalog.category_create")
    assert row["actor"] == "admin:marketer@example.com"
    assert row["after"]["name_ko"] == "게임"


# --- the menu tree ------------------------------------------------------------------------------


def test_add_rename_hide_reorder_move_and_delete_categories(
    db: Database, clock: ManualClock, service: Service, operator: Admin
) -> None:
    base = _base(service)
    for name in ("Games", "Items", "Passes"):
        assert (
            operator.post(f"{base}/categories", {"name_ko": name, "name_en": name}).status_code
            == 303
        )
    games, items, passes = db.read(lambda c: categories.list_categories(c, service.id))
    assert (
        operator.post(
            f"{base}/categories", {"name_ko": "RPG", "name_en": "RPG", "parent_id": str(games.id)}
        ).status_code
        == 303
    )
    first = operator.post(
        f"{base}/categories",
        {"name_ko": "Top", "name_en": "Top", "parent_id": "", "position": "1"},
    )
    assert first.status_code == 303
    assert _tree(db, service) == [
        ("Top", []), ("Games", [("RPG", [])]), ("Items", []), ("Passes", []),
    ]  # fmt: skip

    renamed = operator.post(
        f"{base}/categories/{items.id}/rename", {"name_ko": "아이템", "name_en": "Gear"}
    )
    assert renamed.status_code == 303
    hidden = operator.post(f"{base}/categories/{passes.id}/visibility", {"visible": "false"})
    assert hidden.status_code == 303
    assert (
        operator.post(f"{base}/categories/{items.id}/step", {"direction": "up"}).status_code == 303
    )
    assert _tree(db, service) == [
        ("Top", []), ("Gear", []), ("Games", [("RPG", [])]), ("Passes", []),
    ]  # fmt: skip
    # Moving Games (with RPG) under Passes, first.
    moved = operator.post(
        f"{base}/categories/{games.id}/move", {"parent_id": str(passes.id), "position": "1"}
    )
    assert moved.status_code == 303
    assert _tree(db, service) == [("Top", []), ("Gear", []), ("Passes", [("Games", [("RPG", [])])])]
    page = operator.get(base).text
    assert "Category moved." in page  # the flash of the last change
    assert f'data-testid="category-hidden-{passes.id}"' in page
    (top,) = [
        c
        for c in db.read(lambda c: categories.list_categories(c, service.id))
        if c.name_en == "Top"
    ]
    assert operator.post(f"{base}/categories/{top.id}/delete", {}).status_code == 303
    assert _tree(db, service) == [("Gear", []), ("Passes", [("Games", [("RPG", [])])])]
    for action in ("category_create", "category_rename", "category_visibility", "category_move",
                   "category_delete"):  # fmt: skip
        assert audit_count(db, f"catalog.{action}") >= 1, action
    (move,) = [
        r for r in audit_rows(db, "catalog.category_move") if r["target_id"] == str(games.id)
    ]
    assert move["before"] == {"parent_id": None, "position": 2}
    assert move["after"] == {"parent_id": str(passes.id), "position": 0}


def test_a_step_at_the_end_changes_nothing(
    db: Database, service: Service, operator: Admin, clock: ManualClock
) -> None:
    only = _category(db, clock, service, "Only")
    before = audit_count(db)
    response = operator.post(f"{_base(service)}/categories/{only.id}/step", {"direction": "down"})
    assert response.status_code == 303
    assert audit_count(db) == before


def test_tree_refusals_show_the_message_by_the_field_and_change_nothing(
    db: Database, clock: ManualClock, service: Service, operator: Admin, desk: Desk
) -> None:
    games = _category(db, clock, service, "Games")
    rpg = _category(db, clock, service, "RPG", games)
    cp = _cp(db, clock, service)
    sword = _product(db, clock, service, cp, "sword")
    db.write(lambda c: categories.place_product(c, service.id, sword.id, rpg.id))
    other = desk.service("Other")
    elsewhere = _category(db, clock, other, "Elsewhere")
    base = _base(service)
    before, audits = _catalog_rows(db), audit_count(db)

    cycle = operator.post(f"{base}/categories/{games.id}/move", {"parent_id": str(rpg.id)})
    assert cycle.status_code == 409
    assert "cannot move into itself" in _error(cycle.text, f"move-{games.id}", "parent_id")
    assert f'data-testid="move-form-{games.id}"' in cycle.text
    position = operator.post(f"{base}/categories/{rpg.id}/move", {"parent_id": "", "position": "x"})
    assert position.status_code == 422
    assert "whole number" in _error(position.text, f"move-{rpg.id}", "position")
    far = operator.post(f"{base}/categories/{rpg.id}/move", {"parent_id": "", "position": "9"})
    assert far.status_code == 422
    foreign = operator.post(f"{base}/categories/{rpg.id}/move", {"parent_id": str(elsewhere.id)})
    assert foreign.status_code == 404
    assert "No such category" in _error(foreign.text, f"move-{rpg.id}", "parent_id")
    empty = operator.post(f"{base}/categories", {"name_ko": "  ", "name_en": "Ok"})
    assert empty.status_code == 422
    assert "1 to 200 characters" in _error(empty.text, "create", "name_ko")
    assert 'value="Ok"' in empty.text  # what was typed comes back
    long = operator.post(
        f"{base}/categories/{games.id}/rename", {"name_ko": "x" * 201, "name_en": "Games"}
    )
    assert long.status_code == 422
    assert _error(long.text, f"rename-{games.id}", "name_ko")
    not_empty = operator.post(f"{base}/categories/{rpg.id}/delete", {})
    assert not_empty.status_code == 409
    assert "Only an empty category can be deleted" in not_empty.text
    missing = operator.post(
        f"{base}/categories/{elsewhere.id}/rename", {"name_ko": "a", "name_en": "b"}
    )
    assert missing.status_code == 404
    bad = operator.post(f"{base}/categories/{games.id}/visibility", {"visible": "maybe"})
    assert bad.status_code == 422
    assert _catalog_rows(db) == before
    assert audit_count(db) == audits


# --- products -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PRODUCT_KINDS)
def test_the_form_of_each_kind_shows_only_the_fields_it_uses(
    db: Database, clock: ManualClock, service: Service, operator: Admin, kind: str
) -> None:
    _cp(db, clock, service)
    page = operator.get(f"{_base(service)}/products/new?kind={kind}")
    assert page.status_code == 200
    assert f'data-testid="kind-section-{kind}"' in page.text
    names = set(re.findall(r'name="(\w+)"', page.text))
    for field in SPECIFIC:
        assert (field in names) == (field in KIND_FIELDS[kind]), (kind, field)
    assert ("price" in names) == (kind != "metered")


@pytest.mark.parametrize("kind", PRODUCT_KINDS)
def test_create_edit_and_sell_a_product_of_each_kind(
    db: Database, clock: ManualClock, service: Service, operator: Admin, kind: str
) -> None:
    cp = _cp(db, clock, service)
    shelf = _category(db, clock, service, "Shelf")
    form = {
        "kind": kind, "sku": f"{kind}-1", "cp_id": str(cp.id), "name_ko": "상품",
        "name_en": "Thing", "description_en": "A fine thing", "cancel_window_hours": "24",
        "sale_starts_at": "2026-03-01T09:00", "limit_count": "2", "limit_days": "7",
        "categories": str(shelf.id), **KIND_FORM[kind],
    }  # fmt: skip
    if kind != "metered":
        form["price"] = "12000"
    created = operator.post(f"{_base(service)}/products", form)
    assert created.status_code == 303, created.text
    product = db.read(lambda c: products.product_by_sku(c, service.id, f"{kind}-1"))
    assert created.headers["location"] == f"{_base(service)}/products/{product.id}"
    assert (product.status, product.kind, product.name_en) == ("draft", kind, "Thing")
    assert product.price == (0 if kind == "metered" else 12_000)
    assert product.cancel_window_seconds == 24 * 3600
    assert product.sale_starts_at is not None
    assert product.sale_starts_at.hour == 0
    assert (product.limit_count, product.limit_days) == (2, 7)
    for field, value in KIND_FORM[kind].items():
        stored = getattr(product, field)
        assert str(stored if not isinstance(stored, bool) else ("on" if stored else "")) == value
    assert db.read(lambda c: categories.product_category_ids(c, service.id, product.id)) == [
        shelf.id
    ]
    (row,) = audit_rows(db, "catalog.product_create")
    assert row["after"]["sku"] == f"{kind}-1"

    page = operator.get(f"{_base(service)}/products/{product.id}").text
    assert 'value="Thing"' in page
    assert f'data-testid="kind-section-{kind}"' in page
    # Saving the form unchanged changes nothing; a changed field is saved alone.
    shown = form_values(page, "product-form")
    assert shown["cp_id"] == str(cp.id)
    assert shown["description_en"] == "A fine thing"
    unchanged = operator.post(f"{_base(service)}/products/{product.id}", shown)
    assert unchanged.status_code == 303
    assert audit_count(db, "catalog.product_update") == 0
    edited = operator.post(
        f"{_base(service)}/products/{product.id}",
        {**shown, "name_en": "Better thing", "limit_count": "", "limit_days": ""},
    )
    assert edited.status_code == 303
    after = db.read(lambda c: products.get_product(c, service.id, product.id))
    assert (after.name_en, after.limit_count, after.limit_days) == ("Better thing", None, None)
    (update,) = audit_rows(db, "catalog.product_update")
    assert update["before"] == {"name_en": "Thing", "limit_count": 2, "limit_days": 7}

    if kind == "package":
        sword = _product(db, clock, service, cp, "sword", status="on_sale")
        empty = operator.post(
            f"{_base(service)}/products/{product.id}/status", {"status": "on_sale"}
        )
        assert empty.status_code == 409
        assert "at least one component" in empty.text
        assert (
            operator.post(
                f"{_base(service)}/products/{product.id}/components",
                {"component_id": str(sword.id), "quantity": "3"},
            ).status_code
            == 303
        )
    on = operator.post(f"{_base(service)}/products/{product.id}/status", {"status": "on_sale"})
    assert on.status_code == 303
    off = operator.post(f"{_base(service)}/products/{product.id}/status", {"status": "off_sale"})
    assert off.status_code == 303
    assert db.read(lambda c: products.get_product(c, service.id, product.id)).status == "off_sale"
    statuses = [(r["before"], r["after"]) for r in audit_rows(db, "catalog.product_status")]
    assert statuses[-2:] == [
        ({"status": "draft"}, {"status": "on_sale"}),
        ({"status": "on_sale"}, {"status": "off_sale"}),
    ]


def test_product_refusals_show_the_message_by_the_field_and_change_nothing(
    db: Database, clock: ManualClock, service: Service, operator: Admin, desk: Desk
) -> None:
    cp = _cp(db, clock, service)
    inactive = _cp(db, clock, service, "Sleepy")
    db.write(
        lambda c: providers.set_provider_status(
            c, service.id, inactive.id, "inactive", now=clock.now()
        )
    )
    _product(db, clock, service, cp, "taken")
    good = {
        "kind": "period_pass", "sku": "pass-1", "cp_id": str(cp.id), "name_ko": "패스",
        "name_en": "Pass", "price": "9900", "pass_days": "30", "cancel_window_hours": "0",
    }  # fmt: skip
    before, audits = _catalog_rows(db), audit_count(db)
    cases = [
        ({"price": "99.5"}, 422, "price", "no decimals"),
        ({"price": ""}, 422, "price", "required"),
        ({"pass_days": "0"}, 422, "pass_days", "1 to 3650"),
        ({"pass_days": "thirty"}, 422, "pass_days", "whole number"),
        ({"sku": "taken"}, 409, "sku", "already has a product"),
        ({"sku": "bad sku!"}, 422, "sku", "letters, digits"),
        ({"cp_id": str(inactive.id)}, 409, "cp_id", "inactive"),
        ({"cp_id": "nope"}, 422, "cp_id", "content provider"),
        ({"name_en": ""}, 422, "name_en", "1 to 200"),
        ({"sale_starts_at": "2026-05-01T00:00", "sale_ends_at": "2026-04-01T00:00"}, 422,
         "sale_ends_at", "must end after"),
        ({"sale_starts_at": "tomorrow"}, 422, "sale_starts_at", "date and time"),
        ({"limit_count": "3"}, 422, "limit_days", "both"),
        ({"cancel_window_hours": "99999"}, 422, "cancel_window_hours", "0 to 8784"),
    ]  # fmt: skip
    for change, status, field, words in cases:
        response = operator.post(f"{_base(service)}/products", {**good, **change})
        assert response.status_code == status, (change, response.status_code)
        assert words in _error(response.text, "product", field), (change, field)
        assert 'data-testid="kind-section-period_pass"' in response.text
    unknown_kind = operator.post(f"{_base(service)}/products", {**good, "kind": "gadget"})
    assert unknown_kind.status_code == 422
    assert _catalog_rows(db) == before
    assert audit_count(db) == audits

    product = _product(db, clock, service, cp, "edit-me", "quantity_pass")
    before = _catalog_rows(db)
    bad_edit = operator.post(f"{_base(service)}/products/{product.id}", {"units": "-1"})
    assert bad_edit.status_code == 422
    assert "whole number" in _error(bad_edit.text, "product", "units")
    assert _catalog_rows(db) == before
    other = desk.service("Other")
    foreign = _product(db, clock, other, _cp(db, clock, other), "foreign")
    assert operator.get(f"{_base(service)}/products/{foreign.id}").status_code == 404
    assert operator.get(f"{_base(service)}/products/not-an-id").status_code == 404
    assert (
        operator.post(
            f"{_base(service)}/products/{foreign.id}/status", {"status": "on_sale"}
        ).status_code
        == 404
    )
    assert db.read(lambda c: products.get_product(c, other.id, foreign.id)).status == "draft"


def test_the_list_filters_by_kind_status_and_category(
    db: Database, clock: ManualClock, service: Service, operator: Admin
) -> None:
    cp = _cp(db, clock, service)
    shelf = _category(db, clock, service, "Shelf")
    sword = _product(db, clock, service, cp, "sword", status="on_sale")
    _product(db, clock, service, cp, "potion")
    week = _product(db, clock, service, cp, "week", "period_pass", status="on_sale")
    db.write(lambda c: categories.place_product(c, service.id, week.id, shelf.id))
    base = f"{_base(service)}/products"

    def skus(query: str) -> list[str]:
        return re.findall(r'data-sku="([^"]+)"', operator.get(f"{base}?{query}").text)

    assert skus("") == ["sword", "potion", "week"]
    assert skus("kind=item") == ["sword", "potion"]
    assert skus("status=on_sale") == ["sword", "week"]
    assert skus(f"category={shelf.id}") == ["week"]
    assert skus("kind=item&status=draft") == ["potion"]
    assert skus("kind=nonsense") == ["sword", "potion", "week"]  # not an option: ignored
    assert sword.id


def test_package_contents_add_change_remove_and_refusals(
    db: Database, clock: ManualClock, service: Service, operator: Admin
) -> None:
    cp = _cp(db, clock, service)
    sword = _product(db, clock, service, cp, "sword")
    potion = _product(db, clock, service, cp, "potion")
    meter = _product(db, clock, service, cp, "meter", "metered")
    other_pack = _product(db, clock, service, cp, "other-pack", "package")
    pack = _product(db, clock, service, cp, "pack", "package", price=5_000)
    url = f"{_base(service)}/products/{pack.id}/components"

    def contents() -> list[tuple[str, int]]:
        return [(p.sku, q) for p, q in db.read(lambda c: products.package_components(c, pack.id))]

    assert operator.post(url, {"component_id": str(sword.id), "quantity": "1"}).status_code == 303
    assert operator.post(url, {"component_id": str(potion.id), "quantity": "5"}).status_code == 303
    assert operator.post(url, {"component_id": str(sword.id), "quantity": "2"}).status_code == 303
    assert contents() == [("potion", 5), ("sword", 2)]
    page = operator.get(f"{_base(service)}/products/{pack.id}").text
    assert f'data-testid="component-quantity-{potion.id}">5<' in page
    assert f'value="{meter.id}"' not in page  # metered products are not offered
    before, audits = contents(), audit_count(db)
    for form, status, field in [
        ({"component_id": str(meter.id), "quantity": "1"}, 422, "component_id"),
        ({"component_id": str(other_pack.id), "quantity": "1"}, 422, "component_id"),
        ({"component_id": str(pack.id), "quantity": "1"}, 422, "component_id"),
        ({"component_id": str(sword.id), "quantity": "0"}, 422, "quantity"),
        ({"component_id": str(sword.id), "quantity": "10001"}, 422, "quantity"),
        ({"component_id": "0190a000-0000-7000-8000-0000000000ff", "quantity": "1"}, 422,
         "component_id"),
        ({"component_id": "x", "quantity": "1"}, 422, "component_id"),
    ]:  # fmt: skip
        response = operator.post(url, form)
        assert response.status_code == status, (form, response.status_code)
        assert _error(response.text, "components", field)
    not_a_package = operator.post(
        f"{_base(service)}/products/{sword.id}/components",
        {"component_id": str(potion.id), "quantity": "1"},
    )
    assert not_a_package.status_code == 422
    assert contents() == before
    assert audit_count(db) == audits
    assert operator.post(f"{url}/remove", {"component_id": str(sword.id)}).status_code == 303
    assert contents() == [("potion", 5)]
    last = operator.post(f"{url}/remove", {"component_id": str(potion.id)})
    assert last.status_code == 422
    assert "at least one component" in _error(last.text, "components", "component_id")
    assert contents() == [("potion", 5)]
    rows = audit_rows(db, "catalog.package_components")
    assert len(rows) == 4
    assert rows[-1]["after"]["components"] == [
        {"product_id": str(potion.id), "sku": "potion", "quantity": 5}
    ]


def test_placement_in_categories(
    db: Database, clock: ManualClock, service: Service, operator: Admin, desk: Desk
) -> None:
    cp = _cp(db, clock, service)
    a, b = _category(db, clock, service, "A"), _category(db, clock, service, "B")
    sword = _product(db, clock, service, cp, "sword")
    url = f"{_base(service)}/products/{sword.id}/categories"
    placed = operator.client.post(
        url, data={"csrf_token": operator.csrf, "categories": [str(a.id), str(b.id)]}
    )
    assert placed.status_code == 303
    assert set(db.read(lambda c: categories.product_category_ids(c, service.id, sword.id))) == {
        a.id, b.id,
    }  # fmt: skip
    assert operator.post(url, {"categories": str(b.id)}).status_code == 303
    assert db.read(lambda c: categories.product_category_ids(c, service.id, sword.id)) == [b.id]
    foreign = _category(db, clock, desk.service("Other"), "Foreign")
    refused = operator.post(url, {"categories": str(foreign.id)})
    assert refused.status_code == 422
    assert "No such category" in _error(refused.text, "categories", "categories")
    assert db.read(lambda c: categories.product_category_ids(c, service.id, sword.id)) == [b.id]
    assert operator.post(url, {}).status_code == 303
    assert db.read(lambda c: categories.product_category_ids(c, service.id, sword.id)) == []


# --- content providers and the rate card --------------------------------------------------------


def test_content_providers(
    db: Database, clock: ManualClock, service: Service, operator: Admin
) -> None:
    base = f"{_base(service)}/providers"
    assert operator.post(base, {"name": "Studio", "contact": "a@b.c"}).status_code == 303
    (studio,) = db.read(lambda c: providers.list_providers(c, service.id))
    taken = operator.post(base, {"name": "Studio", "contact": ""})
    assert taken.status_code == 409
    assert "already has a content provider" in _error(taken.text, "create", "name")
    edited = operator.post(f"{base}/{studio.id}", {"name": "Studio One", "contact": "x@y.z"})
    assert edited.status_code == 303
    sword = _product(
        db,
        clock,
        service,
        db.read(lambda c: providers.get_provider(c, service.id, studio.id)),
        "sword",
        status="on_sale",
    )
    busy = operator.post(f"{base}/{studio.id}/status", {"status": "inactive"})
    assert busy.status_code == 409
    assert "products on sale" in busy.text
    db.write(
        lambda c: products.set_product_status(c, service.id, sword.id, "off_sale", now=clock.now())
    )
    assert operator.post(f"{base}/{studio.id}/status", {"status": "inactive"}).status_code == 303
    page = operator.get(base).text
    assert "Studio One" in page
    assert 'data-status="inactive"' in page
    assert operator.post(f"{base}/{studio.id}/status", {"status": "active"}).status_code == 303
    assert [r["action"] for r in audit_rows(db, "catalog.cp_status")] == ["catalog.cp_status"] * 2
    assert audit_rows(db, "catalog.cp_update")[0]["after"] == {
        "name": "Studio One",
        "contact": "x@y.z",
    }
    assert (
        operator.post(f"{base}/0190a000-0000-7000-8000-0000000000ff", {"name": "x"}).status_code
        == 404
    )


def test_time_rate_card(db: Database, service: Service, operator: Admin) -> None:
    url = f"{_base(service)}/time-rate"
    assert "No rate card" in operator.get(url).text
    for bad in ("", "0", "12.5", "-3", "lots"):
        refused = operator.post(url, {"cash_per_minute": bad})
        assert refused.status_code == 422, bad
        assert _error(refused.text, "rate", "cash_per_minute")
    assert db.read(lambda c: time_rates.get_rate(c, service.id)) is None
    assert operator.post(url, {"cash_per_minute": "20"}).status_code == 303
    assert db.read(lambda c: time_rates.get_rate(c, service.id)) == 20
    assert "₩20" in operator.get(url).text
    assert operator.post(url, {"cash_per_minute": "20"}).status_code == 303
    (row,) = audit_rows(db, "catalog.time_rate")
    assert (row["before"], row["after"]) == ({"cash_per_minute": None}, {"cash_per_minute": 20})


def test_catalog_home_goes_to_the_first_service(
    desk: Desk, operator: Admin, service: Service
) -> None:
    response = operator.get("/admin/catalog")
    assert response.status_code == 303
    assert response.headers["location"] == _base(service)
    assert operator.get("/admin/catalog/not-a-service").status_code == 404
    assert operator.get(f"/admin/catalog?service={service.id}").headers["location"] == _base(
        service
    )
