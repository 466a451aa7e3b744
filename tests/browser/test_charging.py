"""Charging in a real browser through the sandbox PG's real checkout page, then a partial refund
by an operator in the admin web (both databases)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from coffer.cli.demo_admins import ensure_demo_admins
from coffer.payments import charging
from coffer.payments.charges import charge_by_id
from coffer.payments.refunds import charge_refunds
from tests.browser.conftest import LiveServer, NewPage, run_live_server, screenshot
from tests.browser.sandbox_pg import connect_sandbox
from tests.browser.test_admin_web import sign_in
from tests.databases import DIALECTS
from tests.payments.world import CARD_OK, sandbox_url

pytestmark = pytest.mark.browser

__all__ = ["sandbox_url"]  # the fixture, served once for the module

#: bob's balance in the browser tests' world (tests/browser/world.py).
BOB_BEFORE = 10_000


@pytest.fixture(scope="module", params=DIALECTS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from run_live_server(request, tmp_path_factory)


@pytest.fixture(scope="module")
def contract_id(live_server: LiveServer, sandbox_url: str) -> Iterator[UUID]:
    """Demo Game connected to the sandbox PG, and the demo admin accounts."""
    ensure_demo_admins(live_server.runtime)
    with connect_sandbox(live_server, sandbox_url) as contract:
        yield contract


def won(amount: int) -> str:
    return f"₩{amount:,}"


def no_sideways_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide"


def charge_by_card(live_server: LiveServer, page: Page, amount: int) -> UUID:
    """The member's way through: the charge form, the confirm step, the sandbox PG's page."""
    page.get_by_test_id("tab-charge").click()
    expect(page).to_have_url(f"{live_server.base_url}/cash/charge")
    page.get_by_test_id(f"preset-{amount}").click()
    page.get_by_test_id("method-card").check()
    screenshot(page, "cash-charge-form", docs=True)
    page.get_by_test_id("charge-next").click()
    expect(page.get_by_test_id("confirm-amount")).to_have_text(won(amount))
    expect(page.get_by_test_id("confirm-balance-after")).to_have_text(won(BOB_BEFORE + amount))
    page.get_by_test_id("charge-pay").click()
    # The sandbox PG's hosted checkout page (its own server): card data never reaches Coffer.
    expect(page.locator("p.amount")).to_have_text(won(amount))
    page.locator("#card_number").fill(CARD_OK["card_number"])
    page.locator("#expiry").fill(CARD_OK["expiry"])
    page.get_by_role("button", name="Pay").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server.base_url)}/cash/charges/"))
    return UUID(page.url.rsplit("/", 1)[1])


def test_a_member_charges_by_card_and_an_operator_refunds_part(
    live_server: LiveServer, contract_id: UUID, new_page: NewPage
) -> None:
    member = new_page(phone=True)
    member.goto(live_server.link("bob"))
    expect(member.get_by_test_id("available")).to_have_text(won(BOB_BEFORE))
    charge_id = charge_by_card(live_server, member, 10_000)
    expect(member.get_by_test_id("charge-outcome")).to_have_text("₩10,000 charged")
    expect(member.get_by_test_id("charge-balance")).to_have_text(won(BOB_BEFORE + 10_000))
    no_sideways_scroll(member, 390)
    screenshot(member, "cash-charge-approved", docs=True)
    member.get_by_test_id("charge-to-balance").click()
    expect(member.get_by_test_id("available")).to_have_text(won(BOB_BEFORE + 10_000))

    operator = new_page()
    operator.set_viewport_size({"width": 820, "height": 1100})
    sign_in(operator, live_server, "operator")
    operator.get_by_role("link", name="Charges").click()
    operator.locator("#charge-member").fill("bob")
    operator.get_by_test_id("charge-search-submit").click()
    row = operator.get_by_test_id(f"charge-row-{charge_id}")
    expect(row).to_contain_text("₩10,000")
    no_sideways_scroll(operator, 820)
    row.get_by_role("link").first.click()
    expect(operator.get_by_test_id("charge-status").locator("mark")).to_have_attribute(
        "data-status", "approved"
    )
    expect(operator.locator("#refund-amount")).to_have_value("10000")  # all of it, unspent
    operator.locator("#refund-amount").fill("4000")
    operator.locator("#refund-reason").fill("The member asked for part of it back")
    operator.get_by_test_id("refund-submit").click()
    expect(operator.locator(".coffer-flash-ok")).to_contain_text("₩4,000")
    expect(operator.get_by_test_id("refund-in-flight")).to_be_visible()
    no_sideways_scroll(operator, 820)

    # The refund's PG cancel, as the worker's job would run it, against the sandbox PG.
    rt = live_server.runtime
    (refund,) = rt.db.read(lambda conn: charge_refunds(conn, charge_id))
    assert charging.process_refund(rt.payments(), refund.id).status == "done"
    operator.reload()
    expect(operator.get_by_test_id("charge-status").locator("mark")).to_have_attribute(
        "data-status", "partially_cancelled"
    )
    expect(operator.get_by_test_id("charge-refunded")).to_contain_text("₩4,000")
    expect(operator.get_by_test_id("charge-refundable")).to_contain_text("₩6,000")
    expect(operator.get_by_test_id(f"refund-{refund.id}")).to_have_attribute("data-status", "done")
    screenshot(operator, "admin-charge-refunded", docs=True)
    charge = rt.db.read(lambda conn: charge_by_id(conn, charge_id))
    assert (charge.status, charge.refunded) == ("partially_cancelled", 4_000)

    member.goto(f"{live_server.base_url}/cash/charges/{charge_id}")
    expect(member.get_by_test_id("charge-status-label")).to_have_text("Partly refunded")
    expect(member.get_by_test_id("charge-refunded")).to_have_text("₩4,000")
    member.goto(f"{live_server.base_url}/cash")
    expect(member.get_by_test_id("available")).to_have_text(won(BOB_BEFORE + 6_000))
