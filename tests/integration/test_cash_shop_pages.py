"""The cash web's shop and "My items", and the CS member page's entitlements, purchases and
cancel action (both databases).

Members sign in through a real signed link; the catalog is stocked through the catalog's own
functions and cash granted through the ledger. The live browser test is tests/browser/test_shop.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import categories, packages, products, providers
from coffer.catalog.model import Category, ContentProvider, Product
from coffer.db.idempotency import idempotency_keys
from coffer.db.transaction import Database
from coffer.entitlements import grants, items
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.tables import journals
from coffer.purchases import records
from coffer.purchases.model import Purchase
from coffer.purchases.tables import purchase_lines
from coffer.purchases.tables import purchases as purchases_table
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import build_link
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows
from tests.ledger_helpers import assert_invariants

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')

KIND_FIELDS: dict[str, dict[str, Any]] = {
    "item": {"consumable": True},
    "period_pass": {"pass_days": 30},
    "quantity_pass": {"units": 10, "unit_name": "unit"},
    "metered": {"unit_price": 10, "unit_name": "minute", "min_balance": 0},
    "mixed": {"pass_days": 7, "units": 100, "unit_price": 5, "unit_name": "minute"},
    "package": {},
    "time_coupon": {"minutes": 60},
}


@dataclass
class Member:
    """A member's browser, signed in to the cash web."""

    external_id: str
    client: TestClient
    csrf: str

    def get(self, path: str) -> str:
        response: httpx.Response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.text

    def confirm(self, product: Product, quantity: int = 1) -> str:
        return self.get(f"/cash/shop/products/{product.id}/confirm?quantity={quantity}")

    def buy(self, product: Product, quantity: int = 1, **override: str) -> httpx.Response:
        """The confirmation page, then its "pay" button."""
        page = self.confirm(product, quantity)
        key = _KEY.search(page)
        assert key is not None, "no buy form on the confirmation page"
        form = {
            "csrf_token": self.csrf,
            "quantity": str(quantity),
            "total": str(product.price * quantity),
            "key": key.group(1),
            **override,
        }
        response: httpx.Response = self.client.post(
            f"/cash/shop/products/{product.id}/buy", data=form
        )
        return response


@dataclass
class Scene:
    db: Database
    clock: ManualClock
    desk: Desk
    service: Service
    other: Service
    cp: ContentProvider
    stock: dict[str, Product] = field(default_factory=dict)
    menu: dict[str, Category] = field(default_factory=dict)
    clients: list[TestClient] = field(default_factory=list)

    def member(self, external_id: str, service: Service | None = None) -> Member:
        owner = service or self.service
        secret = self.db.read(lambda conn: tenancy.link_secret(conn, owner.id))
        ts = int(self.clock.now().timestamp())
        web = TestClient(self.desk.server, base_url=BASE, follow_redirects=False)
        web.headers["Accept-Language"] = "en"
        self.clients.append(web)
        entered = web.get(build_link(BASE, secret, owner.id, external_id, ts))
        assert entered.status_code == 303, entered.text
        found = _CSRF.search(web.get("/cash").text)
        assert found is not None
        return Member(external_id, web, found.group(1))

    def grant(self, external_id: str, amount: int, service: Service | None = None) -> None:
        owner = service or self.service

        def work(conn: Connection) -> None:
            member = tenancy.get_member(conn, owner.id, external_id)
            ledger.grant(
                conn, app.wallet_ref(owner, member), amount=amount, kind="paid", source="api",
                actor="test", now=self.clock.now(),
            )  # fmt: skip

        self.db.write(work)

    def available(self, external_id: str) -> int:
        def read(conn: Connection) -> int:
            member = tenancy.get_member(conn, self.service.id, external_id)
            return queries.balance(conn, member.id, self.clock.now()).available

        return self.db.read(read)

    def purchases_of(self, external_id: str) -> list[Purchase]:
        def read(conn: Connection) -> list[Purchase]:
            member = tenancy.get_member(conn, self.service.id, external_id)
            return records.member_purchases(conn, self.service.id, member.id, before=None, limit=50)

        return self.db.read(read)

    def counts(self) -> tuple[int, ...]:
        def read(conn: Connection) -> tuple[int, ...]:
            return tuple(
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (purchases_table, purchase_lines, entitlements, journals)
            )

        return self.db.read(read)


def _product(
    db: Database, clock: ManualClock, service: Service, cp: ContentProvider, sku: str,
    kind: str = "item", price: int = 1_000, *, status: str = "on_sale", **fields: Any,
) -> Product:  # fmt: skip
    spec = {
        "sku": sku, "kind": kind, "cp_id": cp.id, "name_ko": f"{sku} 한", "name_en": f"{sku} en",
        "description_en": f"About {sku}", "cancel_window_seconds": 7 * 24 * 3600,
        **KIND_FIELDS[kind], **fields,
    }  # fmt: skip
    if kind != "metered":
        spec["price"] = price
    return db.write(
        lambda c: products.create_product(c, service.id, spec, now=clock.now(), status=status)
    )


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    desk = Desk(db, clock)
    service, other = desk.service("Acme"), desk.service("Other")
    for owner, name in ((service, "alice"), (service, "bob"), (other, "zoe")):
        desk.member(owner, name)
    cp = db.write(lambda c: providers.create_provider(c, service.id, name="CP", now=clock.now()))
    scene = Scene(db, clock, desk, service, other, cp)
    stock = scene.stock
    for kind in KIND_FIELDS:
        if kind != "package":
            stock[kind] = _product(db, clock, service, cp, kind, kind, 1_000)
    stock["durable"] = _product(db, clock, service, cp, "durable", "item", 500, consumable=False)
    stock["draft"] = _product(db, clock, service, cp, "draft", status="draft")

    def pack(conn: Connection) -> Product:
        made = products.create_product(
            conn, service.id,
            {"sku": "starter", "kind": "package", "cp_id": cp.id, "name_ko": "스타터 팩",
             "name_en": "Starter pack", "price": 3_000, "cancel_window_seconds": 3600},
            now=clock.now(),
        )  # fmt: skip
        packages.set_package_components(
            conn, service.id, made.id,
            [(stock["item"].id, 5), (stock["period_pass"].id, 1), (stock["time_coupon"].id, 2)],
            now=clock.now(),
        )  # fmt: skip
        return products.set_product_status(conn, service.id, made.id, "on_sale", now=clock.now())

    stock["package"] = db.write(pack)

    def tree(conn: Connection) -> None:
        def add(name: str, parent: str | None = None, visible: bool = True) -> None:
            scene.menu[name] = categories.create_category(
                conn, service.id, name_ko=f"{name} 한", name_en=name,
                parent_id=scene.menu[parent].id if parent else None, visible=visible,
                now=clock.now(),
            )  # fmt: skip

        add("Games")
        add("Bundles", "Games")
        add("Secret", visible=False)
        add("Inside secret", "Secret")
        for product, where in (("package", "Bundles"), ("item", "Games"), ("draft", "Games"),
                               ("durable", "Inside secret"), ("metered", "Games")):  # fmt: skip
            categories.place_product(conn, service.id, stock[product].id, scene.menu[where].id)

    db.write(tree)
    try:
        yield scene
    finally:
        for web in scene.clients:
            web.close()
        desk.close()


def text_of(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert found is not None, f"no {testid} on the page"
    return re.sub(r"\s+", " ", found.group(1)).replace("&#39;", "'").strip()


# --- browsing -----------------------------------------------------------------------------------


def test_the_tabs_link_the_shop_and_my_items(scene: Scene) -> None:
    home = scene.member("alice").get("/cash")
    assert 'href="/cash/shop"' in home
    assert 'href="/cash/items"' in home
    assert 'href="/cash/coupons"' in home


def test_the_menu_shows_visible_categories_only(scene: Scene) -> None:
    alice = scene.member("alice")
    menu = alice.get("/cash/shop")
    games, bundles, secret = (scene.menu[n] for n in ("Games", "Bundles", "Secret"))
    assert f'data-testid="shop-category-{games.id}"' in menu
    assert f'data-testid="shop-category-{bundles.id}"' in menu
    assert str(secret.id) not in menu
    assert str(scene.menu["Inside secret"].id) not in menu
    page = alice.get(f"/cash/shop/categories/{games.id}")
    assert f'data-testid="shop-sub-{bundles.id}"' in page
    listed = re.findall(r'data-testid="shop-product-([0-9a-f-]+)"', page)
    assert listed == [str(scene.stock["item"].id), str(scene.stock["metered"].id)]  # no draft
    inner = alice.get(f"/cash/shop/categories/{bundles.id}")
    assert text_of(inner, "shop-category-name") == "Bundles"
    assert f'href="/cash/shop/categories/{games.id}"' in inner  # the way back up
    for hidden in ("Secret", "Inside secret"):
        assert alice.client.get(f"/cash/shop/categories/{scene.menu[hidden].id}").status_code == 404
    elsewhere = scene.db.write(
        lambda c: categories.create_category(
            c, scene.other.id, name_ko="x", name_en="x", now=scene.clock.now()
        )
    )
    assert alice.client.get(f"/cash/shop/categories/{elsewhere.id}").status_code == 404
    assert alice.client.get("/cash/shop/categories/nonsense").status_code == 404


def test_korean_names_for_korean_readers(scene: Scene) -> None:
    alice = scene.member("alice")
    alice.client.headers["Accept-Language"] = "ko"
    page = alice.get(f"/cash/shop/products/{scene.stock['package'].id}")
    assert "스타터 팩" in page
    assert "item 한" in page


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("item", "A consumable item"),
        ("durable", "A permanent item"),
        ("period_pass", "Unlimited use for 30 days"),
        ("quantity_pass", "10 units"),
        ("metered", "Pay as you use: ₩10 per minute"),
        ("mixed", "7 days including 100 minutes, then ₩5 per minute"),
        ("time_coupon", "60 minutes of play time"),
        ("package", "A package"),
    ],
)
def test_the_product_page_says_what_each_kind_gives(scene: Scene, kind: str, says: str) -> None:
    product = scene.stock[kind]
    page = scene.member("alice").get(f"/cash/shop/products/{product.id}")
    assert text_of(page, "product-name") == product.name_en
    assert text_of(page, "product-gives") == says
    if kind != "package":
        assert text_of(page, "product-description") == f"About {product.sku}"
    assert ('data-testid="buy-form"' in page) == (kind != "metered")
    if kind == "package":
        item = scene.stock["item"]
        assert f'data-testid="package-item-{item.id}"><strong>item en</strong> \u00d7 5' in page
        assert "You can cancel it within 1 hours" in page
    if kind == "item":
        assert "You can cancel it within 7 days if you have not used it." in page


def test_products_not_on_sale_or_elsewhere_are_not_found(scene: Scene) -> None:
    alice = scene.member("alice")
    foreign_cp = scene.db.write(
        lambda c: providers.create_provider(c, scene.other.id, name="X", now=scene.clock.now())
    )
    foreign = _product(scene.db, scene.clock, scene.other, foreign_cp, "foreign")
    ended = _product(
        scene.db, scene.clock, scene.service, scene.cp, "ended",
        sale_ends_at=scene.clock.now() - timedelta(minutes=1),
        sale_starts_at=scene.clock.now() - timedelta(days=1),
    )  # fmt: skip
    for product in (scene.stock["draft"], foreign, ended):
        for path in ("", "/confirm?quantity=1"):
            response = alice.client.get(f"/cash/shop/products/{product.id}{path}")
            assert response.status_code == 404, (product.sku, path)
            assert 'data-problem="not_found"' in response.text
    assert (
        alice.client.get(f"/cash/shop/products/{scene.stock['metered'].id}/confirm").status_code
        == 404
    )
    assert alice.client.get("/cash/shop/products/not-an-id").status_code == 404


def test_pages_need_a_session(scene: Scene) -> None:
    web = TestClient(scene.desk.server, base_url=BASE, follow_redirects=False)
    scene.clients.append(web)
    for path in ("/cash/shop", "/cash/items", f"/cash/shop/products/{scene.stock['item'].id}"):
        response = web.get(path)
        assert response.status_code == 401
        assert 'data-problem="no_session"' in response.text


# --- buying -------------------------------------------------------------------------------------


def test_confirm_shows_the_price_and_the_balance_after_then_buys(scene: Scene) -> None:
    scene.grant("alice", 10_000)
    alice = scene.member("alice")
    package = scene.stock["package"]
    page = alice.confirm(package, 2)
    assert text_of(page, "confirm-price") == "₩6,000"
    assert text_of(page, "confirm-balance") == "₩10,000"
    assert text_of(page, "confirm-balance-after") == "₩4,000"
    bought = alice.buy(package, 2)
    assert bought.status_code == 303, bought.text
    (made,) = scene.purchases_of("alice")
    assert bought.headers["location"] == f"/cash/shop/purchases/{made.id}"
    assert (made.total, made.status) == (6_000, "completed")
    assert scene.available("alice") == 4_000
    result = alice.get(bought.headers["location"])
    assert text_of(result, "purchase-balance") == "₩4,000"
    assert "Bought for ₩6,000" in result
    assert "item en: \u00d7 10" in result
    assert "time_coupon en: 240 minutes of play time" in result
    assert (
        "period_pass en: pass until 2026-04-30 09:00" in result
    )  # two passes, one after the other

    mine = alice.get("/cash/items")
    assert text_of(mine, "my-time-minutes") == "240 min"  # 60 min x 2 in the package x 2 bought
    assert "period_pass en" in text_of(mine, "my-passes")
    assert "item en" in text_of(mine, "my-item-list")
    assert "\u00d7 10" in mine
    assert f'data-testid="my-purchase-{made.id}"' in mine
    assert_invariants(scene.db)


def test_a_double_submit_buys_once(scene: Scene) -> None:
    scene.grant("alice", 5_000)
    alice = scene.member("alice")
    item = scene.stock["item"]
    key = _KEY.search(alice.confirm(item))
    assert key is not None
    form = {"csrf_token": alice.csrf, "quantity": "1", "total": "1000", "key": key.group(1)}
    first = alice.client.post(f"/cash/shop/products/{item.id}/buy", data=form)
    second = alice.client.post(f"/cash/shop/products/{item.id}/buy", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(scene.purchases_of("alice")) == 1
    assert scene.available("alice") == 4_000
    # The same key for another purchase is refused; a new confirmation buys again.
    reused = alice.client.post(
        f"/cash/shop/products/{item.id}/buy", data={**form, "quantity": "2", "total": "2000"}
    )
    assert reused.status_code == 422
    assert "This page has expired" in text_of(reused.text, "buy-error")
    assert alice.buy(item).status_code == 303
    assert len(scene.purchases_of("alice")) == 2


def test_not_enough_cash_shows_no_button_and_buys_nothing(scene: Scene) -> None:
    scene.grant("alice", 500)
    alice = scene.member("alice")
    item = scene.stock["item"]
    page = alice.confirm(item)
    assert text_of(page, "confirm-balance-after") == "-₩500"
    assert 'data-testid="buy-confirm-form"' not in page
    assert text_of(page, "buy-short") == "You need ₩500 more cash."
    before = scene.counts()
    forced = alice.client.post(
        f"/cash/shop/products/{item.id}/buy",
        data={"csrf_token": alice.csrf, "quantity": "1", "total": "1000", "key": "a" * 32},
    )
    assert forced.status_code == 422
    assert "not have enough cash" in text_of(forced.text, "buy-error")
    assert scene.counts() == before
    assert scene.available("alice") == 500
    assert (
        scene.db.read(
            lambda c: c.execute(select(func.count()).select_from(idempotency_keys)).scalar_one()
        )
        == 0
    )  # a refused purchase leaves its key free


def test_bad_input_is_refused_and_changes_nothing(scene: Scene) -> None:
    scene.grant("alice", 50_000)
    alice = scene.member("alice")
    item = scene.stock["item"]
    before = scene.counts()
    for quantity in ("0", "-1", "abc", "10001", "1.5"):
        response = alice.client.get(f"/cash/shop/products/{item.id}/confirm?quantity={quantity}")
        assert response.status_code == 422, quantity
        assert text_of(response.text, "buy-error-quantity")
    url = f"/cash/shop/products/{item.id}/buy"
    good = {"csrf_token": alice.csrf, "quantity": "1", "total": "1000", "key": "b" * 32}
    for token in ("", "forged"):
        assert alice.client.post(url, data={**good, "csrf_token": token}).status_code == 403
    assert alice.client.post(url, data={**good, "quantity": "0"}).status_code == 422
    assert alice.client.post(url, data={**good, "key": "short"}).status_code == 422
    changed = alice.client.post(url, data={**good, "total": "900"})
    assert changed.status_code == 409
    assert "The price has changed: it is now ₩1,000" in text_of(changed.text, "buy-error")
    metered = scene.stock["metered"]
    assert (
        alice.client.post(
            f"/cash/shop/products/{metered.id}/buy", data={**good, "total": "0"}
        ).status_code
        == 404
    )  # charged as used: there is nothing to buy
    draft = scene.stock["draft"]
    assert alice.client.post(f"/cash/shop/products/{draft.id}/buy", data=good).status_code == 404
    assert scene.counts() == before
    assert scene.available("alice") == 50_000


def test_the_purchase_limit_is_explained(scene: Scene) -> None:
    scene.grant("alice", 10_000)
    limited = _product(
        scene.db, scene.clock, scene.service, scene.cp, "limited", limit_count=1, limit_days=1
    )
    alice = scene.member("alice")
    assert alice.buy(limited).status_code == 303
    again = alice.buy(limited)
    assert again.status_code == 409
    assert "purchase limit" in text_of(again.text, "buy-error")
    assert len(scene.purchases_of("alice")) == 1


def test_another_members_purchase_is_not_found(scene: Scene) -> None:
    scene.grant("bob", 5_000)
    bob = scene.member("bob")
    assert bob.buy(scene.stock["item"]).status_code == 303
    (bobs,) = scene.purchases_of("bob")
    assert bob.client.get(f"/cash/shop/purchases/{bobs.id}").status_code == 200
    alice = scene.member("alice")
    response = alice.client.get(f"/cash/shop/purchases/{bobs.id}")
    assert response.status_code == 404
    assert 'data-problem="not_found"' in response.text
    assert str(bobs.id) not in alice.get("/cash/items")
    zoe = scene.member("zoe", scene.other)
    assert zoe.client.get(f"/cash/shop/purchases/{bobs.id}").status_code == 404
    assert zoe.client.get(f"/cash/shop/products/{scene.stock['item'].id}").status_code == 404
    assert alice.client.get("/cash/shop/purchases/nonsense").status_code == 404


def test_my_items_shows_passes_quantities_time_and_items(scene: Scene) -> None:
    scene.grant("alice", 20_000)
    alice = scene.member("alice")
    empty = alice.get("/cash/items")
    for nothing in ("my-no-passes", "my-no-quantities", "my-no-items", "my-no-purchases"):
        assert f'data-testid="{nothing}"' in empty
    for kind in ("period_pass", "quantity_pass", "mixed", "time_coupon"):
        assert alice.buy(scene.stock[kind]).status_code == 303
    assert alice.buy(scene.stock["item"], 3).status_code == 303
    assert alice.buy(scene.stock["period_pass"]).status_code == 303  # extends: a second pass

    def use_two(conn: Connection) -> None:
        member = tenancy.get_member(conn, scene.service.id, "alice")
        (potion,) = [
            e for e in grants.live_entitlements(conn, member.id, scene.clock.now())
            if e.kind == "item"
        ]  # fmt: skip
        items.consume_item(conn, member.id, potion.id, 2, scene.clock.now())

    scene.db.write(use_two)
    page = alice.get("/cash/items")
    passes = re.findall(r'data-testid="my-pass-ends">([^<]*)<', page)
    assert sorted(passes) == [
        "until 2026-03-08 09:00",  # the mixed pass: 7 days
        "until 2026-03-31 09:00",  # the first 30-day pass
        "until 2026-04-30 09:00",  # the second, after the first
    ]
    assert "starts 2026-03-31 09:00" in page
    assert "100 minutes left" in page
    quantity = scene.stock["quantity_pass"].id
    assert re.search(rf'data-testid="my-quantity-{quantity}">.*?quantity_pass en.*?10 units', page)
    assert text_of(page, "my-time-minutes") == "60 min"
    assert "Your passes cover play until 2026-04-30 09:00" in page
    assert re.search(r'data-testid="my-item-[^"]+".*?item en.*?\u00d7 1<', page)  # 3 bought, 2 used
    assert len(re.findall(r'data-testid="my-purchase-', page)) == 6


# --- the CS member page -------------------------------------------------------------------------


def _cs_page(scene: Scene, admin: Admin, external_id: str) -> str:
    response = admin.get(f"/admin/members/{scene.service.id}/{external_id}")
    assert response.status_code == 200, response.text
    return response.text


def _cancel(
    scene: Scene, admin: Admin, external_id: str, purchase: Purchase, **fields: str
) -> httpx.Response:
    page = _cs_page(scene, admin, external_id)
    form = rf'action="[^"]*/purchases/{purchase.id}/cancel"[^>]*>'
    key = re.search(form + r'.*?name="form_key" value="([0-9a-f]+)"', page, re.S)
    assert key is not None, "no cancel form for the purchase"
    return admin.post(
        f"/admin/members/{scene.service.id}/{external_id}/purchases/{purchase.id}/cancel",
        {"form_key": key.group(1), "reason": "asked by the member", **fields},
    )


def test_the_member_page_shows_entitlements_and_purchases(scene: Scene) -> None:
    scene.grant("alice", 20_000)
    alice = scene.member("alice")
    assert alice.buy(scene.stock["package"]).status_code == 303
    assert alice.buy(scene.stock["quantity_pass"]).status_code == 303
    viewer = scene.desk.admin("viewer")
    viewer.client.headers["Accept-Language"] = "en"
    page = _cs_page(scene, viewer, "alice")
    assert re.search(r'data-testid="owned-time">.*?120 min', page, re.S)
    assert 'data-testid="owned-passes"' in page
    assert "period_pass en" in page
    assert 'data-testid="owned-quantities"' in page
    assert "10 units" in page
    assert "item en" in page
    assert "5 / 5" in page
    bought = scene.purchases_of("alice")
    for purchase in bought:
        assert f'data-testid="purchase-{purchase.id}"' in page
    assert "Starter pack \u00d7 1" in page
    assert "₩3,000" in page
    assert 'data-testid="cancel-form-' not in page  # a viewer may not cancel


def test_cs_cancels_a_purchase_and_the_cash_comes_back(scene: Scene) -> None:
    scene.grant("alice", 10_000)
    alice = scene.member("alice")
    assert alice.buy(scene.stock["package"]).status_code == 303
    (made,) = scene.purchases_of("alice")
    cs = scene.desk.admin("cs")
    cs.client.headers["Accept-Language"] = "en"
    done = _cancel(scene, cs, "alice", made)
    assert done.status_code == 303, done.text
    assert scene.available("alice") == 10_000
    (after,) = scene.purchases_of("alice")
    assert after.status == "cancelled"
    page = cs.get(done.headers["location"]).text
    assert "₩3,000 went back to the member" in page
    assert f'data-testid="purchase-{made.id}" data-status="cancelled"' in page
    (row,) = audit_rows(scene.db, "purchases.cancel")
    assert row["before"]["status"] == "completed"
    assert row["after"]["status"] == "cancelled"
    assert row["reason"] == "asked by the member"
    assert row["actor"] == "admin:cs@example.com"
    assert_invariants(scene.db)


def test_cancel_refusals_are_explained_and_change_nothing(scene: Scene) -> None:
    scene.grant("alice", 10_000)
    alice = scene.member("alice")
    assert alice.buy(scene.stock["package"]).status_code == 303  # window: 1 hour
    assert alice.buy(scene.stock["item"]).status_code == 303
    package_purchase, item_purchase = sorted(scene.purchases_of("alice"), key=lambda p: p.id)
    operator = scene.desk.admin("operator")
    operator.client.headers["Accept-Language"] = "en"

    # The item is used: consumed once.
    def consume(conn: Connection) -> None:
        member = tenancy.get_member(conn, scene.service.id, "alice")
        (entitlement_id,) = item_purchase.lines[0].entitlement_ids
        items.consume_item(conn, member.id, entitlement_id, 1, scene.clock.now())

    scene.db.write(consume)
    before = (scene.available("alice"), scene.counts())
    used = _cancel(scene, operator, "alice", item_purchase)
    assert used.status_code == 409
    assert "cannot be cancelled" in text_of(used.text, f"cancel-error-{item_purchase.id}")
    assert "cannot be cancelled" in text_of(used.text, "form-error")
    no_reason = _cancel(scene, operator, "alice", package_purchase, reason=" ")
    assert no_reason.status_code == 422
    scene.clock.advance(timedelta(hours=2))
    later = scene.desk.admin("cs")  # the operator's session has idled out meanwhile
    later.client.headers["Accept-Language"] = "en"
    closed = _cancel(scene, later, "alice", package_purchase)
    assert closed.status_code == 409
    assert "cancellation window" in text_of(closed.text, "form-error")
    assert (scene.available("alice"), scene.counts()) == before
    assert audit_count(scene.db, "purchases.cancel") == 0


def test_cancel_permissions_and_other_members(scene: Scene) -> None:
    scene.grant("alice", 10_000)
    scene.grant("bob", 10_000)
    assert scene.member("alice").buy(scene.stock["item"]).status_code == 303
    assert scene.member("bob").buy(scene.stock["item"]).status_code == 303
    (alices,), (bobs,) = scene.purchases_of("alice"), scene.purchases_of("bob")
    base = f"/admin/members/{scene.service.id}"
    for role in ("viewer", "marketer", "accountant"):
        admin = scene.desk.admin(role)
        refused = admin.post(f"{base}/alice/purchases/{alices.id}/cancel", {"reason": "x"})
        assert refused.status_code == 403, role
    operator = scene.desk.admin("operator")
    operator.client.headers["Accept-Language"] = "en"
    page = _cs_page(scene, operator, "alice")
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', page)
    assert key is not None
    # Bob's purchase through Alice's page is not found, and stays as it was.
    crossed = operator.post(
        f"{base}/alice/purchases/{bobs.id}/cancel", {"form_key": key.group(1), "reason": "x"}
    )
    assert crossed.status_code == 404
    assert scene.purchases_of("bob")[0].status == "completed"
    assert (
        operator.post(
            f"{base}/alice/purchases/nonsense/cancel", {"form_key": key.group(1), "reason": "x"}
        ).status_code
        == 404
    )
    # The same form twice cancels once.
    form = {"form_key": key.group(1), "reason": "twice"}
    url = f"{base}/alice/purchases/{alices.id}/cancel"
    assert operator.post(url, form).status_code == 303
    again = operator.post(url, form)
    assert again.status_code == 303
    assert "already submitted" in operator.get(again.headers["location"]).text
    assert scene.available("alice") == 10_000
    assert audit_count(scene.db, "purchases.cancel") == 1
