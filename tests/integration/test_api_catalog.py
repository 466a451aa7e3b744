"""The catalog API end to end on both databases: CPs, the menu tree, every kind of product,
packages, placements, the time rate and the shop's menu. Bad input is a 4xx with its code and
changes nothing; another service's objects are 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.integration.test_api_support import Tenant, World, error_code, ok

C = "/catalog"


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@dataclass
class Catalog:
    """A tenant with a CP, and shortcuts that assert success."""

    tenant: Tenant
    cp: dict[str, Any]

    def category(self, name: str, parent: str | None = None, **extra: Any) -> Any:
        body = {"name_ko": name, "name_en": name, "parent_id": parent, **extra}
        return ok(self.tenant.post(f"{C}/categories", body, key=None), 201)

    def product(self, sku: str, kind: str = "item", **fields: Any) -> Any:
        body = {**KINDS[kind], "sku": sku, "cp_id": self.cp["id"], **fields}
        return ok(self.tenant.post(f"{C}/products", body, key=None), 201)

    def status(self, ref: str, status: str) -> Any:
        return ok(self.tenant.post(f"{C}/products/{ref}/status", {"status": status}, key=None), 200)

    def place(self, ref: str, category_ids: list[str]) -> Any:
        return ok(
            self.tenant.put(f"{C}/products/{ref}/categories", {"category_ids": category_ids}), 200
        )

    def tree(self) -> list[Any]:
        def shape(nodes: list[Any]) -> list[Any]:
            return [(n["name_en"], n["position"], shape(n["children"])) for n in nodes]

        return shape(ok(self.tenant.get(f"{C}/categories"), 200)["data"])

    def snapshot(self) -> list[Any]:
        """Everything the catalog API shows: what a refused request must leave as it was."""
        get = self.tenant.get
        listed = ok(get(f"{C}/products", limit=200), 200)["data"]
        return [
            ok(get(f"{C}/categories"), 200),
            ok(get(f"{C}/providers"), 200),
            listed,
            [ok(get(f"{C}/products/{p['id']}/components"), 200) for p in listed],
            [ok(get(f"{C}/products/{p['id']}/categories"), 200) for p in listed],
            ok(get(f"{C}/time-rate"), 200),
        ]


def new_catalog(world: World, name: str) -> Catalog:
    tenant = world.tenant(name)
    cp = ok(tenant.post(f"{C}/providers", {"name": f"{name} Studio"}, key=None), 201)
    return Catalog(tenant, cp)


@pytest.fixture
def acme(world: World) -> Catalog:
    return new_catalog(world, "Acme")


@pytest.fixture
def other(world: World) -> Catalog:
    return new_catalog(world, "Other")


KINDS: dict[str, dict[str, Any]] = {
    "item": {
        "kind": "item", "name_ko": "검", "name_en": "Sword", "price": 1000, "consumable": True,
    },
    "period_pass": {
        "kind": "period_pass", "name_ko": "월정액", "name_en": "Monthly", "price": 9900,
        "pass_days": 30,
    },
    "quantity_pass": {
        "kind": "quantity_pass", "name_ko": "10회권", "name_en": "Ten", "price": 5000,
        "units": 10, "unit_name": "unit",
    },
    "metered": {
        "kind": "metered", "name_ko": "종량", "name_en": "Metered", "unit_price": 20,
        "unit_name": "minute",
    },
    "mixed": {
        "kind": "mixed", "name_ko": "혼합", "name_en": "Mixed", "price": 15000, "pass_days": 30,
        "units": 600, "unit_name": "minute", "unit_price": 15,
    },
    "package": {"kind": "package", "name_ko": "묶음", "name_en": "Bundle", "price": 20000},
    "time_coupon": {
        "kind": "time_coupon", "name_ko": "1시간", "name_en": "Hour", "price": 1200,
        "minutes": 60,
    },
}  # fmt: skip


# --- happy paths ----------------------------------------------------------------------------


def test_content_providers(acme: Catalog) -> None:
    t = acme.tenant
    created = ok(t.post(f"{C}/providers", {"name": "Pixel", "contact": "ops@pixel.example"}), 201)
    assert (created["status"], created["contact"]) == ("active", "ops@pixel.example")
    assert ok(t.get(f"{C}/providers/{created['id']}"), 200) == created
    names = [p["name"] for p in ok(t.get(f"{C}/providers"), 200)["data"]]
    assert names == ["Acme Studio", "Pixel"]
    changed = ok(
        t.patch(f"{C}/providers/{created['id']}", {"name": "Pixel Co", "status": "inactive"}), 200
    )
    assert (changed["name"], changed["status"], changed["contact"]) == (
        "Pixel Co",
        "inactive",
        "ops@pixel.example",
    )
    body = {**KINDS["item"], "sku": "x", "cp_id": created["id"]}
    refused = t.post(f"{C}/products", body, key=None)
    assert (refused.status_code, error_code(refused)) == (409, "cp_inactive")


def test_menu_tree_moves_and_deletes(acme: Catalog) -> None:
    t = acme.tenant
    games = acme.category("Games")
    rpg = acme.category("RPG", games["id"])
    acme.category("Fantasy", rpg["id"])
    items = acme.category("Items")
    events = acme.category("Events", position=0)
    assert events["position"] == 0
    assert acme.tree() == [
        ("Events", 0, []),
        ("Games", 1, [("RPG", 0, [("Fantasy", 0, [])])]),
        ("Items", 2, []),
    ]

    moved = ok(t.post(f"{C}/categories/{rpg['id']}/move", {"parent_id": items["id"]}), 200)
    assert (moved["parent_id"], moved["position"]) == (items["id"], 0)
    ok(t.post(f"{C}/categories/{items['id']}/move", {"parent_id": None, "position": 0}), 200)
    assert acme.tree() == [
        ("Items", 0, [("RPG", 0, [("Fantasy", 0, [])])]),
        ("Events", 1, []),
        ("Games", 2, []),
    ]

    renamed = ok(t.patch(f"{C}/categories/{games['id']}", {"name_en": "Play"}), 200)
    assert (renamed["name_ko"], renamed["name_en"], renamed["visible"]) == ("Games", "Play", True)
    hidden = ok(t.patch(f"{C}/categories/{games['id']}", {"visible": False}), 200)
    assert hidden["visible"] is False
    assert ok(t.get(f"{C}/categories/{games['id']}"), 200) == hidden

    not_empty = t.delete(f"{C}/categories/{items['id']}")
    assert (not_empty.status_code, error_code(not_empty)) == (409, "category_not_empty")
    assert t.delete(f"{C}/categories/{events['id']}").status_code == 204
    assert [name for name, _, _ in acme.tree()] == ["Items", "Play"]
    assert [pos for _, pos, _ in acme.tree()] == [0, 1]


def test_every_kind_through_the_api(acme: Catalog) -> None:
    t = acme.tenant
    made = {kind: acme.product(f"sku-{kind.replace('_', '-')}", kind) for kind in KINDS}
    assert made["metered"]["price"] == 0
    assert made["metered"]["min_balance"] == 0
    assert made["mixed"]["units"] == 600
    assert made["item"]["consumable"] is True
    assert made["period_pass"]["consumable"] is None
    for product in made.values():
        assert product["status"] == "draft"
        assert ok(t.get(f"{C}/products/{product['id']}"), 200) == product
        assert ok(t.get(f"{C}/products/sku:{product['sku']}"), 200) == product

    listed = ok(t.get(f"{C}/products", kind="item"), 200)["data"]
    assert [p["sku"] for p in listed] == ["sku-item"]
    page = ok(t.get(f"{C}/products", limit=4), 200)
    assert len(page["data"]) == 4
    rest = ok(t.get(f"{C}/products", limit=4, cursor=page["next_cursor"]), 200)
    assert len(rest["data"]) == 3
    assert rest["next_cursor"] is None


def test_edit_status_and_sale_window(acme: Catalog, world: World) -> None:
    t = acme.tenant
    acme.product("monthly", "period_pass")
    changed = ok(
        t.patch(
            f"{C}/products/sku:monthly",
            {
                "price": 11000,
                "sale_starts_at": "2026-03-02T09:00:00+09:00",
                "limit_count": 1,
                "limit_days": 30,
                "cancel_window_seconds": 604800,
                "description_en": "Thirty days\nof play",
            },
        ),
        200,
    )
    assert changed["price"] == 11000
    assert changed["sale_starts_at"] == "2026-03-02T00:00:00Z"
    assert (changed["limit_count"], changed["limit_days"]) == (1, 30)
    assert changed["cancel_window_seconds"] == 604800
    cleared = ok(
        t.patch(f"{C}/products/sku:monthly", {"limit_count": None, "limit_days": None}), 200
    )
    assert cleared["limit_count"] is None

    assert acme.status("sku:monthly", "on_sale")["status"] == "on_sale"
    assert acme.status("sku:monthly", "on_sale")["status"] == "on_sale"
    assert ok(t.get(f"{C}/menu/products"), 200)["data"] == []  # not before its window
    world.clock.advance(timedelta(days=1))
    assert [p["sku"] for p in ok(t.get(f"{C}/menu/products"), 200)["data"]] == ["monthly"]
    back = t.post(f"{C}/products/sku:monthly/status", {"status": "draft"}, key=None)
    assert (back.status_code, error_code(back)) == (409, "invalid_status_change")


def test_package_components_and_menu(acme: Catalog) -> None:
    t = acme.tenant
    bundle = acme.product("bundle", "package")
    sword = acme.product("sword")
    hour = acme.product("hour", "time_coupon")
    empty = t.post(f"{C}/products/{bundle['id']}/status", {"status": "on_sale"}, key=None)
    assert (empty.status_code, error_code(empty)) == (409, "package_empty")
    body = {"components": [{"product_id": sword["id"], "quantity": 2}, {"product_id": hour["id"]}]}
    composed = ok(t.put(f"{C}/products/sku:bundle/components", body), 200)["data"]
    assert [(c["product"]["sku"], c["quantity"]) for c in composed] == [("hour", 1), ("sword", 2)]
    assert ok(t.get(f"{C}/products/sku:bundle/components"), 200)["data"] == composed

    shop = acme.category("Shop")
    secret = acme.category("Secret", visible=False)
    sub = acme.category("Sub", shop["id"])
    for ref in ("sku:bundle", "sku:sword"):
        acme.status(ref, "on_sale")
    assert acme.place("sku:bundle", [shop["id"], secret["id"]])["category_ids"] == sorted(
        [shop["id"], secret["id"]]
    )
    acme.place("sku:sword", [shop["id"], sub["id"]])
    acme.place("sku:hour", [shop["id"]])  # a draft: not in the menu
    assert ok(t.get(f"{C}/products/sku:sword/categories"), 200)["category_ids"] == sorted(
        [shop["id"], sub["id"]]
    )
    menu = ok(t.get(f"{C}/menu"), 200)["data"]
    assert [(n["name_en"], [p["sku"] for p in n["products"]]) for n in menu] == [
        ("Shop", ["bundle", "sword"])
    ]
    assert [(n["name_en"], [p["sku"] for p in n["products"]]) for n in menu[0]["children"]] == [
        ("Sub", ["sword"])
    ]
    in_sub = ok(t.get(f"{C}/menu/products", category=sub["id"]), 200)["data"]
    assert [p["sku"] for p in in_sub] == ["sword"]
    in_shop = ok(t.get(f"{C}/products", category=shop["id"]), 200)["data"]
    assert [p["sku"] for p in in_shop] == ["bundle", "sword", "hour"]


def test_time_rate(acme: Catalog) -> None:
    t = acme.tenant
    assert ok(t.get(f"{C}/time-rate"), 200) == {"cash_per_minute": None}
    assert ok(t.put(f"{C}/time-rate", {"cash_per_minute": 20}), 200) == {"cash_per_minute": 20}
    assert ok(t.get(f"{C}/time-rate"), 200) == {"cash_per_minute": 20}


def test_catalog_writes_need_no_idempotency_key(acme: Catalog) -> None:
    response = acme.tenant.post(f"{C}/providers", {"name": "No key"}, key=None)
    assert response.status_code == 201


# --- refusals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    method: str
    path: str
    body: Any = None
    status: int = 422
    code: str = "invalid_request"


def product_body(base: str = "item", **changes: Any) -> dict[str, Any]:
    """A new product's body: the ``base`` kind's fields, changed."""
    return {**KINDS[base], "sku": "new", "cp_id": "{cp}", **changes}


P = f"{C}/products"
BAD: dict[str, Bad] = {
    "float-price": Bad("POST", P, product_body(price=1.5), code="invalid_price"),
    "string-price": Bad("POST", P, product_body(price="100"), code="invalid_price"),
    "zero-price": Bad("POST", P, product_body(price=0), code="invalid_price"),
    "bad-kind": Bad("POST", P, product_body(kind="gift"), code="invalid_product_kind"),
    "missing-pass-days": Bad(
        "POST", P, product_body("period_pass", pass_days=None),
        code="missing_pass_days",
    ),
    "item-with-minutes": Bad("POST", P, product_body(minutes=5), code="unexpected_field"),
    "metered-with-price": Bad(
        "POST", P, product_body("metered", price=5),
        code="invalid_price",
    ),
    "unknown-field": Bad("POST", P, product_body(colour="red")),
    "missing-sku": Bad("POST", P, {k: v for k, v in product_body().items() if k != "sku"}),
    "bad-sku": Bad("POST", P, product_body(sku="a b"), code="invalid_sku"),
    "taken-sku": Bad("POST", P, product_body(sku="sword"), 409, "sku_taken"),
    "naive-sale-time": Bad(
        "POST", P, product_body(sale_starts_at="2026-03-05T00:00:00"), code="invalid_sale_window"
    ),
    "sale-window-reversed": Bad(
        "POST", P,
        product_body(sale_starts_at="2026-03-05T00:00:00Z", sale_ends_at="2026-03-04T00:00:00Z"),
        code="invalid_sale_window",
    ),
    "half-limit": Bad("POST", P, product_body(limit_days=3), code="invalid_purchase_limit"),
    "bad-cp-id": Bad("POST", P, product_body(cp_id="nope"), code="invalid_cp_id"),
    "others-cp": Bad("POST", P, product_body(cp_id="{other_cp}"), 404, "cp_not_found"),
    "several-fields": Bad("POST", P, product_body(price=-1, units=3.5)),
    "patch-kind": Bad("PATCH", f"{P}/sku:sword", {"kind": "package"}, code="kind_unchangeable"),
    "patch-unexpected": Bad("PATCH", f"{P}/sku:sword", {"pass_days": 3}, code="unexpected_field"),
    "patch-status": Bad("PATCH", f"{P}/sku:sword", {"status": "on_sale"}),
    "bad-status": Bad("POST", f"{P}/sku:sword/status", {"status": "sold"},
                      code="invalid_product_status"),
    "draft-to-off-sale": Bad(
        "POST", f"{P}/sku:sword/status", {"status": "off_sale"}, 409, "invalid_status_change"
    ),
    "nested-package": Bad(
        "PUT", f"{P}/sku:bundle/components",
        {"components": [{"product_id": "{bundle}", "quantity": 1}]}, code="nested_package",
    ),
    "zero-quantity": Bad(
        "PUT", f"{P}/sku:bundle/components",
        {"components": [{"product_id": "{sword}", "quantity": 0}]}, code="invalid_quantity",
    ),
    "others-component": Bad(
        "PUT", f"{P}/sku:bundle/components",
        {"components": [{"product_id": "{theirs}", "quantity": 1}]}, 404, "component_not_found",
    ),
    "not-a-package": Bad(
        "PUT", f"{P}/sku:sword/components",
        {"components": [{"product_id": "{bundle}", "quantity": 1}]}, code="not_a_package",
    ),
    "cycle": Bad("POST", f"{C}/categories/{{games}}/move", {"parent_id": "{rpg}"}, 409,
                 "category_cycle"),
    "position-past-end": Bad(
        "POST", f"{C}/categories/{{rpg}}/move", {"parent_id": None, "position": 9},
        code="invalid_position",
    ),
    "negative-position": Bad(
        "POST", f"{C}/categories", {"name_ko": "a", "name_en": "a", "position": -1},
        code="invalid_position",
    ),
    "move-without-parent": Bad("POST", f"{C}/categories/{{rpg}}/move", {"position": 0}),
    "empty-name": Bad("POST", f"{C}/categories", {"name_ko": "", "name_en": "a"},
                      code="invalid_name"),
    "visible-string": Bad("PATCH", f"{C}/categories/{{games}}", {"visible": "no"},
                          code="invalid_visible"),
    "delete-not-empty": Bad("DELETE", f"{C}/categories/{{games}}", None, 409,
                            "category_not_empty"),
    "duplicate-cp": Bad("POST", f"{C}/providers", {"name": "Acme Studio"}, 409, "cp_name_taken"),
    "bad-cp-status": Bad("PATCH", f"{C}/providers/{{cp}}", {"status": "gone"},
                         code="invalid_cp_status"),
    "cp-with-sales": Bad("PATCH", f"{C}/providers/{{cp}}", {"status": "inactive"}, 409,
                         "cp_has_products_on_sale"),
    "rate-zero": Bad("PUT", f"{C}/time-rate", {"cash_per_minute": 0}, code="invalid_rate"),
    "rate-float": Bad("PUT", f"{C}/time-rate", {"cash_per_minute": 2.5}, code="invalid_rate"),
    "placement-twice": Bad(
        "PUT", f"{P}/sku:sword/categories", {"category_ids": ["{games}", "{games}"]},
        code="duplicate_category",
    ),
    "bad-list-kind": Bad("GET", f"{P}?kind=gift", code="invalid_product_kind"),
    "bad-cursor": Bad("GET", f"{P}?cursor=abc", code="invalid_cursor"),
    # another service's objects, and ids that cannot exist: 404
    "others-product": Bad("GET", f"{P}/{{theirs}}", status=404, code="product_not_found"),
    "others-sku": Bad("GET", f"{P}/sku:theirs", status=404, code="product_not_found"),
    "others-product-patch": Bad("PATCH", f"{P}/{{theirs}}", {"price": 5}, 404,
                                "product_not_found"),
    "others-product-status": Bad("POST", f"{P}/{{theirs}}/status", {"status": "on_sale"}, 404,
                                 "product_not_found"),
    "others-components": Bad("GET", f"{P}/{{theirs}}/components", status=404,
                             code="product_not_found"),
    "others-category": Bad("GET", f"{C}/categories/{{their_category}}", status=404,
                           code="category_not_found"),
    "others-category-patch": Bad("PATCH", f"{C}/categories/{{their_category}}",
                                 {"visible": False}, 404, "category_not_found"),
    "others-category-delete": Bad("DELETE", f"{C}/categories/{{their_category}}", None, 404,
                                  "category_not_found"),
    "move-under-others": Bad("POST", f"{C}/categories/{{rpg}}/move",
                             {"parent_id": "{their_category}"}, 404, "category_not_found"),
    "place-in-others": Bad("PUT", f"{P}/sku:sword/categories",
                           {"category_ids": ["{their_category}"]}, 404, "category_not_found"),
    "others-cp-read": Bad("GET", f"{C}/providers/{{other_cp}}", status=404, code="cp_not_found"),
    "others-cp-patch": Bad("PATCH", f"{C}/providers/{{other_cp}}", {"name": "Mine"}, 404,
                           "cp_not_found"),
    "list-others-category": Bad("GET", f"{P}?category={{their_category}}", status=404,
                                code="category_not_found"),
    "menu-others-category": Bad("GET", f"{C}/menu/products?category={{their_category}}",
                                status=404, code="category_not_found"),
    "bad-product-id": Bad("GET", f"{P}/123", status=404, code="product_not_found"),
    "bad-category-id": Bad("GET", f"{C}/categories/xyz", status=404, code="category_not_found"),
}  # fmt: skip


@pytest.fixture
def scene(acme: Catalog, other: Catalog) -> dict[str, str]:
    games = acme.category("Games")
    rpg = acme.category("RPG", games["id"])
    sword = acme.product("sword")
    bundle = acme.product("bundle", "package")
    acme.product("live")
    acme.status("sku:live", "on_sale")
    acme.place("sku:sword", [games["id"]])
    theirs = other.product("theirs")
    their_category = other.category("Theirs")
    return {
        "cp": acme.cp["id"],
        "other_cp": other.cp["id"],
        "games": games["id"],
        "rpg": rpg["id"],
        "sword": sword["id"],
        "bundle": bundle["id"],
        "theirs": theirs["id"],
        "their_category": their_category["id"],
    }


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_and_changes_nothing(
    acme: Catalog, other: Catalog, scene: dict[str, str], name: str
) -> None:
    case = BAD[name]
    before = [acme.snapshot(), other.snapshot()]
    path = _fill(case.path, scene)
    body = _fill(case.body, scene)
    t = acme.tenant
    kwargs: dict[str, Any] = {"headers": t.auth}
    if body is not None:
        kwargs["json"] = body
    response = t.request(case.method, path, **kwargs)
    assert response.status_code == case.status, response.text
    assert error_code(response) == case.code, response.text
    assert [acme.snapshot(), other.snapshot()] == before


def test_validation_lists_every_bad_field(acme: Catalog) -> None:
    body = {**KINDS["item"], "sku": "a b", "cp_id": acme.cp["id"], "price": 1.5, "extra": 1}
    response = acme.tenant.post(f"{C}/products", body, key=None)
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert sorted((e["field"], e["code"]) for e in errors) == [
        ("extra", "unknown_field"),
        ("price", "invalid_price"),
        ("sku", "invalid_sku"),
    ]


def test_the_catalog_is_in_the_openapi_document(world: World) -> None:
    document = ok(world.client.get("/openapi.json"), 200)
    paths = document["paths"]
    for path in ("categories", "products", "providers", "menu", "time-rate"):
        assert f"/api/v1/catalog/{path}" in paths
    product = document["components"]["schemas"]["ProductCreate"]["properties"]
    assert product["price"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 2**53}
