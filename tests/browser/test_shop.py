"""The shop in a real browser (both databases): a member buys a package in the cash web on a
phone and sees its items under "My items"; an operator moves a menu subtree in the admin catalog
editor at tablet width, and the tree (and the shop's menu) shows it moved."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Connection

from coffer.catalog import categories, packages, products, providers
from coffer.catalog.model import Category, Product
from coffer.cli.demo_admins import ensure_demo_admins
from coffer.ledger import queries
from coffer.tenancy import service as tenancy
from tests.browser.conftest import LiveServer, NewPage, run_live_server, screenshot
from tests.browser.test_admin_web import sign_in
from tests.databases import DIALECTS

pytestmark = pytest.mark.browser

#: bob's balance in the browser tests' world (tests/browser/world.py).
BOB_BEFORE = 10_000
PACKAGE_PRICE = 4_500


@pytest.fixture(scope="module", params=DIALECTS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from run_live_server(request, tmp_path_factory)


@dataclass(frozen=True)
class Stock:
    games: Category
    bundles: Category
    extras: Category
    boosts: Category
    package: Product
    potion: Product
    week: Product
    hour: Product


@pytest.fixture(scope="module")
def stock(live_server: LiveServer) -> Stock:
    """Demo Game's catalog: Games > Bundles holds a starter pack; Extras > Boosts sits beside
    it; and the demo admin accounts."""
    rt = live_server.runtime
    ensure_demo_admins(rt)
    service_id = live_server.world.service_id

    def stock_it(conn: Connection) -> Stock:
        now = rt.clock.now()
        cp = providers.create_provider(conn, service_id, name="Demo Studio", now=now)

        def product(sku: str, kind: str, name: str, price: int, **fields: object) -> Product:
            spec = {
                "sku": sku, "kind": kind, "cp_id": cp.id, "name_ko": name, "name_en": name,
                "price": price, "cancel_window_seconds": 7 * 24 * 3600, **fields,
            }  # fmt: skip
            return products.create_product(conn, service_id, spec, now=now, status="on_sale")

        potion = product("potion", "item", "Potion", 300, consumable=True)
        week = product("week-pass", "period_pass", "Week pass", 2_000, pass_days=7)
        hour = product("hour", "time_coupon", "Hour of play", 1_200, minutes=60)
        pack = products.create_product(
            conn, service_id,
            {"sku": "starter", "kind": "package", "cp_id": cp.id, "name_ko": "스타터 팩",
             "name_en": "Starter pack", "price": PACKAGE_PRICE,
             "description_en": "Everything a new player needs.",
             "cancel_window_seconds": 7 * 24 * 3600},
            now=now,
        )  # fmt: skip
        packages.set_package_components(
            conn, service_id, pack.id, [(potion.id, 5), (week.id, 1), (hour.id, 2)], now=now
        )
        pack = products.set_product_status(conn, service_id, pack.id, "on_sale", now=now)

        def category(name: str, parent: Category | None = None) -> Category:
            return categories.create_category(
                conn, service_id, name_ko=name, name_en=name,
                parent_id=parent.id if parent else None, now=now,
            )  # fmt: skip

        games = category("Games")
        bundles = category("Bundles", games)
        extras = category("Extras")
        boosts = category("Boosts", extras)
        categories.place_product(conn, service_id, pack.id, bundles.id)
        categories.place_product(conn, service_id, potion.id, boosts.id)
        return Stock(games, bundles, extras, boosts, pack, potion, week, hour)

    return rt.db.write(stock_it)


def won(amount: int) -> str:
    return f"₩{amount:,}"


def no_sideways_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide"


def test_a_member_buys_a_package_and_sees_the_items(
    live_server: LiveServer, stock: Stock, new_page: NewPage
) -> None:
    page = new_page(phone=True)
    page.goto(live_server.link("bob"))
    expect(page.get_by_test_id("available")).to_have_text(won(BOB_BEFORE))
    page.get_by_test_id("tab-shop").click()
    expect(page).to_have_url(f"{live_server.base_url}/cash/shop")
    no_sideways_scroll(page, 390)
    page.get_by_test_id(f"shop-category-{stock.games.id}").get_by_role("link", name="Games").click()
    page.get_by_test_id(f"shop-sub-{stock.bundles.id}").click()
    expect(page.get_by_test_id("shop-category-name")).to_have_text("Bundles")
    no_sideways_scroll(page, 390)
    page.get_by_test_id(f"shop-product-{stock.package.id}").click()
    expect(page.get_by_test_id("product-name")).to_have_text("Starter pack")
    expect(page.get_by_test_id("product-price")).to_have_text(won(PACKAGE_PRICE))
    contents = page.get_by_test_id("package-contents")
    expect(contents).to_contain_text("Potion \u00d7 5")
    expect(contents).to_contain_text("Unlimited use for 7 days")
    expect(contents).to_contain_text("60 minutes of play time")
    no_sideways_scroll(page, 390)
    screenshot(page, "cash-shop-product", docs=True)

    page.get_by_test_id("buy-next").click()
    expect(page.get_by_test_id("confirm-price")).to_have_text(won(PACKAGE_PRICE))
    expect(page.get_by_test_id("confirm-balance")).to_have_text(won(BOB_BEFORE))
    expect(page.get_by_test_id("confirm-balance-after")).to_have_text(
        won(BOB_BEFORE - PACKAGE_PRICE)
    )
    no_sideways_scroll(page, 390)
    screenshot(page, "cash-shop-confirm", docs=True)
    page.get_by_test_id("buy-pay").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server.base_url)}/cash/shop/purchases/"))
    expect(page.get_by_test_id("purchase-outcome")).to_contain_text(
        f"Bought for {won(PACKAGE_PRICE)}"
    )
    expect(page.get_by_test_id("purchase-balance")).to_have_text(won(BOB_BEFORE - PACKAGE_PRICE))
    purchase_id = UUID(page.url.rsplit("/", 1)[1])
    no_sideways_scroll(page, 390)

    page.get_by_test_id("purchase-to-items").click()
    expect(page).to_have_url(f"{live_server.base_url}/cash/items")
    expect(page.get_by_test_id("my-time-minutes")).to_have_text("120 min")
    expect(page.get_by_test_id("my-passes")).to_contain_text("Week pass")
    expect(page.get_by_test_id("my-pass-ends")).to_contain_text("until ")
    expect(page.get_by_test_id("my-item-list")).to_contain_text("Potion")
    expect(page.get_by_test_id("my-item-list")).to_contain_text("\u00d7 5")
    expect(page.get_by_test_id(f"my-purchase-{purchase_id}")).to_contain_text(won(PACKAGE_PRICE))
    no_sideways_scroll(page, 390)
    screenshot(page, "cash-my-items", docs=True)

    # Bought once, paid once.
    rt, service_id = live_server.runtime, live_server.world.service_id

    def balance(conn: Connection) -> int:
        member = tenancy.get_member(conn, service_id, "bob")
        return queries.balance(conn, member.id, rt.clock.now()).available

    assert rt.db.read(balance) == BOB_BEFORE - PACKAGE_PRICE


def test_an_operator_moves_a_menu_subtree(
    live_server: LiveServer, stock: Stock, new_page: NewPage
) -> None:
    page = new_page()
    page.set_viewport_size({"width": 820, "height": 1100})
    sign_in(page, live_server, "operator")
    page.get_by_role("link", name="Catalog").click()
    tree = page.get_by_test_id("menu-tree")
    expect(tree.get_by_test_id(f"category-{stock.extras.id}")).to_be_visible()
    no_sideways_scroll(page, 820)

    # Extras (with Boosts inside) goes under Games, first.
    extras = page.get_by_test_id(f"category-{stock.extras.id}")
    extras.get_by_test_id(f"move-open-{stock.extras.id}").click()
    page.get_by_test_id(f"move-parent-{stock.extras.id}").select_option(str(stock.games.id))
    page.get_by_test_id(f"move-position-{stock.extras.id}").fill("1")
    no_sideways_scroll(page, 820)
    screenshot(page, "admin-catalog-move", docs=True)
    page.get_by_test_id(f"move-submit-{stock.extras.id}").click()
    expect(page.locator(".coffer-flash-ok")).to_contain_text("Category moved.")
    under_games = page.get_by_test_id(f"children-{stock.games.id}")
    expect(under_games.locator(":scope > li").first).to_have_attribute(
        "data-category", str(stock.extras.id)
    )
    expect(under_games.get_by_test_id(f"category-{stock.boosts.id}")).to_be_visible()
    roots = page.locator("[data-testid=menu-tree] > li")
    expect(roots).to_have_count(1)
    no_sideways_scroll(page, 820)
    screenshot(page, "admin-catalog-tree", docs=True)

    # The shop's menu follows: Extras is now a subcategory of Games.
    member = new_page(phone=True)
    member.goto(live_server.link("alice"))
    member.goto(f"{live_server.base_url}/cash/shop/categories/{stock.games.id}")
    expect(member.get_by_test_id(f"shop-sub-{stock.extras.id}")).to_be_visible()
    member.get_by_test_id(f"shop-sub-{stock.extras.id}").click()
    expect(member.get_by_test_id("shop-crumbs")).to_contain_text("Games")
    expect(member.get_by_test_id(f"shop-sub-{stock.boosts.id}")).to_be_visible()


def test_catalog_pages_fit_a_tablet(
    live_server: LiveServer, stock: Stock, new_page: NewPage
) -> None:
    """At 820 px no catalog page scrolls sideways."""
    page = new_page()
    page.set_viewport_size({"width": 820, "height": 1100})
    sign_in(page, live_server, "operator")
    base = f"/admin/catalog/{live_server.world.service_id}"
    for path in [
        base,
        f"{base}/products",
        f"{base}/products/{stock.package.id}",
        f"{base}/products/{stock.week.id}",
        f"{base}/products/new?kind=mixed",
        f"{base}/providers",
        f"{base}/time-rate",
        f"/admin/members/{live_server.world.service_id}/bob",
    ]:
        page.goto(f"{live_server.base_url}{path}")
        page.wait_for_load_state("networkidle")
        no_sideways_scroll(page, 820)
        if path.endswith("/bob"):
            expect(page.get_by_test_id("member-purchases")).to_contain_text("Starter pack")
            screenshot(page, "admin-member-purchases")
