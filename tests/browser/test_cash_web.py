"""The member cash web in a real browser: signed link in, balance, history, live updates,
the phone layout, the language switch, sign-out, and a forged link refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Response, expect

from tests.browser.conftest import LiveServer, NewPage, run_live_server, screenshot
from tests.browser.world import ALICE_BONUS, ALICE_PAID
from tests.databases import DIALECTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=DIALECTS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The cash web on both databases: one server per dialect for this module."""
    yield from run_live_server(request, tmp_path_factory)


def status_of(response: Response | None) -> int:
    assert response is not None
    return response.status


def won(amount: int) -> str:
    return f"₩{amount:,}"


def test_member_opens_the_cash_web_and_sees_balance_and_history(
    live_server: LiveServer, new_page: NewPage
) -> None:
    page = new_page()
    response = page.goto(live_server.link("alice"))
    assert status_of(response) == 200
    assert page.url == f"{live_server.base_url}/cash"
    expect(page.get_by_test_id("available")).to_have_text(won(ALICE_PAID + ALICE_BONUS))
    expect(page.get_by_test_id("paid")).to_have_text(won(ALICE_PAID))
    expect(page.get_by_test_id("bonus")).to_have_text(won(ALICE_BONUS))
    expect(page.get_by_test_id("expiring")).to_have_text(won(ALICE_BONUS))
    expect(page.get_by_test_id("expiring-list")).to_contain_text("Expires")
    history = page.get_by_test_id("history")
    categories = history.locator("li").evaluate_all("els => els.map(e => e.dataset.category)")
    assert categories == ["refund", "use", "use", "reserve", "use", "event", "charge"]
    expect(history).to_contain_text("sword")
    expect(history).to_contain_text("+₩50,000")
    screenshot(page, "cash-balance", docs=True)

    page.get_by_role("link", name="My cash").click()
    expect(page).to_have_url(f"{live_server.base_url}/cash/lots")
    lots = page.get_by_test_id("lots")
    expect(lots.locator("tbody tr")).to_have_count(2)
    expect(lots.locator("tbody tr").first).to_contain_text("Bonus cash")  # soonest expiry first
    expect(lots).to_contain_text("Never")
    expect(lots).to_contain_text("in 10 days")
    for ready in ("Shop", "My items", "Coupons"):
        expect(page.locator(".cash-tabs a", has_text=ready)).to_be_visible()
    screenshot(page, "cash-lots")


def test_history_pages(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page()
    page.goto(live_server.link("pat"))
    expect(page.get_by_test_id("history").locator("li")).to_have_count(20)
    page.get_by_test_id("older").click()
    expect(page.get_by_test_id("history").locator("li")).to_have_count(5)
    expect(page.get_by_test_id("older")).to_have_count(0)
    page.get_by_test_id("newest").click()
    expect(page.get_by_test_id("history").locator("li")).to_have_count(20)


def test_history_and_balance_update_without_reload(
    live_server: LiveServer, new_page: NewPage
) -> None:
    page = new_page()
    page.goto(live_server.link("bob"))
    history = page.get_by_test_id("history").locator("li")
    expect(history).to_have_count(1)
    page.evaluate("window.__loadedOnce = true")
    with live_server.api() as api:
        grant = api.post(
            "/members/bob/grants",
            json={"amount": 7_000, "cash_kind": "paid", "reason": "top-up"},
            headers={"Idempotency-Key": f"browser-{uuid.uuid4()}"},
        )
    assert grant.status_code == 201, grant.text
    expect(page.get_by_test_id("history").locator("li")).to_have_count(2)
    expect(page.get_by_test_id("history").locator("li").first).to_contain_text("+₩7,000")
    expect(page.get_by_test_id("available")).to_have_text(won(17_000))
    assert page.evaluate("window.__loadedOnce") is True  # updated in place, never reloaded


def test_phone_layout(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page(phone=True)
    page.goto(live_server.link("alice"))
    expect(page.get_by_test_id("available")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    screenshot(page, "cash-phone", docs=True)
    page.goto(f"{live_server.base_url}/cash/lots")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "cash-lots-phone")


def test_korean_english_switch(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page(locale="ko-KR")
    page.goto(live_server.link("alice"))
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("link", name="잔액")).to_be_visible()
    screenshot(page, "cash-balance-ko")
    page.locator("a[data-lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Balance")).to_be_visible()
    expect(page).to_have_url(f"{live_server.base_url}/cash")
    page.locator("a[data-lang=ko]").click()
    expect(page.get_by_role("link", name="내 캐시")).to_be_visible()


def test_sign_out(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page()
    page.goto(live_server.link("alice"))
    before = live_server.session_count()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    assert live_server.session_count() == before - 1
    assert not [c for c in page.context.cookies() if c["name"] == "coffer_cash"]
    response = page.goto(f"{live_server.base_url}/cash")
    assert status_of(response) == 401
    expect(page.get_by_test_id("problem")).to_have_attribute("data-problem", "no_session")


def test_forged_link_is_refused(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page()
    before = live_server.session_count()
    link = live_server.link("alice")
    forged = re.sub(r"sig=([0-9a-f])", lambda m: "sig=" + ("0" if m[1] != "0" else "1"), link)
    response = page.goto(forged)
    assert status_of(response) == 403
    expect(page.get_by_test_id("problem")).to_contain_text("This link is not valid")
    screenshot(page, "cash-forged-link")
    assert live_server.session_count() == before
    assert not [c for c in page.context.cookies() if c["name"] == "coffer_cash"]
    response = page.goto(f"{live_server.base_url}/cash")
    assert status_of(response) == 401
