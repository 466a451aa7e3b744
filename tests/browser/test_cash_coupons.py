"""Coupons in a real browser (both databases): a member redeems a cash coupon in the cash web,
on a phone, and sees the bonus in the balance; a mistyped code first shows why it was refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Connection

from coffer.coupons import campaigns, codes
from coffer.ledger import queries
from coffer.tenancy import service as tenancy
from tests.browser.conftest import LiveServer, NewPage, run_live_server, screenshot
from tests.databases import DIALECTS

pytestmark = pytest.mark.browser

#: bob's paid cash in the browser tests' world (tests/browser/world.py).
BOB_PAID = 10_000
COUPON_CASH = 2_000


@pytest.fixture(scope="module", params=DIALECTS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from run_live_server(request, tmp_path_factory)


@pytest.fixture(scope="module")
def bob_code(live_server: LiveServer) -> str:
    """A code of an active cash campaign (₩2,000 bonus for 30 days), issued to bob."""
    rt, service_id = live_server.runtime, live_server.world.service_id

    def make(conn: Connection) -> str:
        now = rt.clock.now()
        made = campaigns.create_campaign(
            conn, service_id, name="Spring gift", kind="cash", code_mode="bulk",
            valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=30),
            actor="test", now=now, cash_amount=COUPON_CASH, bonus_days=30,
        )  # fmt: skip
        campaign = campaigns.activate(conn, service_id, made.id, now=now)
        member = tenancy.get_member(conn, service_id, "bob")
        return codes.format_code(campaigns.issue_to_member(conn, campaign, member, now).code)

    return rt.db.write(make)


def won(amount: int) -> str:
    return f"₩{amount:,}"


def no_sideways_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide"


def test_a_member_redeems_a_cash_coupon_and_sees_the_bonus(
    live_server: LiveServer, bob_code: str, new_page: NewPage
) -> None:
    page = new_page(phone=True)
    page.goto(live_server.link("bob"))
    expect(page.get_by_test_id("available")).to_have_text(won(BOB_PAID))
    expect(page.get_by_test_id("bonus")).to_have_text(won(0))
    page.get_by_test_id("tab-coupons").click()
    expect(page).to_have_url(f"{live_server.base_url}/cash/coupons")
    expect(page.get_by_test_id("coupons-unused")).to_contain_text("Spring gift")
    expect(page.get_by_test_id("coupons-unused")).to_contain_text(bob_code)
    no_sideways_scroll(page, 390)

    # A mistyped code (one character changed): refused, with the reason beside the box.
    last = bob_code[-1]
    page.get_by_test_id("coupon-code").fill(bob_code[:-1] + ("2" if last != "2" else "3"))
    page.get_by_test_id("coupon-redeem").click()
    expect(page.get_by_test_id("coupon-error")).to_have_text(
        "This is not a coupon code. Check it for typing mistakes."
    )
    expect(page.get_by_test_id("coupon-bonus")).to_have_text(won(0))

    # The code as printed, typed in lower case: redeemed.
    page.get_by_test_id("coupon-code").fill(bob_code.lower())
    page.get_by_test_id("coupon-redeem").click()
    expect(page.get_by_test_id("coupon-redeemed-text")).to_have_text(
        f"You got {won(COUPON_CASH)} bonus cash"
    )
    expect(page.get_by_test_id("coupon-bonus")).to_have_text(won(COUPON_CASH))
    expect(page.get_by_test_id("coupon-available")).to_have_text(won(BOB_PAID + COUPON_CASH))
    expect(page.get_by_test_id("coupon-redemptions")).to_contain_text("Spring gift")
    expect(page.get_by_test_id("coupon-gave")).to_have_text(f"+{won(COUPON_CASH)}")
    expect(page.get_by_test_id("coupons-done")).to_contain_text("Used")
    no_sideways_scroll(page, 390)
    screenshot(page, "cash-coupons", docs=True)

    # Reloading the result does not redeem again (the form was a POST, answered with a 303).
    page.reload()
    expect(page.get_by_test_id("coupon-bonus")).to_have_text(won(COUPON_CASH))

    page.get_by_role("link", name="Balance").click()
    expect(page.get_by_test_id("available")).to_have_text(won(BOB_PAID + COUPON_CASH))
    expect(page.get_by_test_id("bonus")).to_have_text(won(COUPON_CASH))
    expect(page.get_by_test_id("history")).to_contain_text(won(COUPON_CASH))

    rt, service_id = live_server.runtime, live_server.world.service_id

    def balance(conn: Connection) -> tuple[int, int]:
        member = tenancy.get_member(conn, service_id, "bob")
        found = queries.balance(conn, member.id, rt.clock.now())
        return found.paid, found.bonus

    assert rt.db.read(balance) == (BOB_PAID, COUPON_CASH)
