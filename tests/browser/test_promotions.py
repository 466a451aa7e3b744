"""Promotions in a real browser: a marketer creates a 10% charge event, simulates it over the
last 30 days (two approved charges are there to replay), sees the bonus it would have given,
activates it, and finds it active."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Connection

from coffer import app
from coffer.admins import service as admins
from coffer.payments.apply import apply_outcome
from coffer.payments.gateways.outcomes import Approved
from coffer.payments.onboarding import connect_pg
from coffer.payments.secrets import SecretBox, new_key
from coffer.tenancy import service as tenancy
from tests.browser.conftest import LiveServer, NewPage, screenshot

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "marketer@coffer.example", "demo-marketer-1"
#: (member, amount, days ago): 10% of them is 2,000 + 3,000.
CHARGES = (("alice", 20_000, 3), ("bob", 30_000, 1))


@pytest.fixture(scope="module", autouse=True)
def seeded(live_server: LiveServer) -> None:
    """A marketer account, a PG contract on Demo Game and two charges it approved."""
    rt = live_server.runtime

    def work(conn: Connection) -> None:
        now = rt.clock.now()
        admins.create_admin(conn, email=EMAIL, role="marketer", password=PASSWORD, now=now)
        service = tenancy.get_service(conn, live_server.world.service_id)
        connect_pg(
            conn, service.id, pg="sandbox", name="Sandbox", base_url="http://127.0.0.1:9",
            merchant_id="m", client_key="ck", secret_key="sk", webhook_secret="wh",
            box=SecretBox(new_key()), now=now,
        )  # fmt: skip
        for member, amount, days_ago in CHARGES:
            at = now - timedelta(days=days_ago)
            charge = app.create_charge(
                conn, service, member, amount=amount, method="card", pg=None,
                return_url="http://shop.test/back", now=at,
            )  # fmt: skip
            outcome = Approved(
                payment_key=f"pay_{charge.id}", order_id=charge.order_id, amount=amount,
                method="card", approved_at=at, currency="KRW",
            )  # fmt: skip
            apply_outcome(
                conn, charge.id, outcome, source="confirm", now=at, resolve=app.resolve_wallet
            )

    rt.db.write(work)


def sign_in(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.base_url}/admin/login")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/admin/login'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server.base_url)}/admin/?$"))


def test_a_marketer_creates_simulates_and_activates_a_charge_event(
    live_server: LiveServer, new_page: NewPage
) -> None:
    page = new_page()
    sign_in(page, live_server)
    page.get_by_role("link", name="Promotions").first.click()
    overview = f"{live_server.base_url}/admin/promotions/{live_server.world.service_id}"
    expect(page).to_have_url(overview)
    expect(page.get_by_test_id("no-events")).to_be_visible()

    page.get_by_test_id("new-events").click()
    form = page.get_by_test_id("rule-form")
    form.locator("input[name=name]").fill("Spring charge 10%")
    page.get_by_test_id("tier_min_0").fill("10000")
    page.get_by_test_id("tier_percent_0").fill("10")
    form.locator("input[name=bonus_days]").fill("30")
    form.locator("input[name=methods][value=card]").check()
    screenshot(page, "admin-promotions-new-event", docs=True)
    page.get_by_test_id("rule-save").click()

    expect(page).to_have_url(re.compile(r"/admin/promotions/[0-9a-f-]+/events/[0-9a-f-]{36}$"))
    expect(page.locator("h1 [data-status=draft]")).to_be_visible()
    expect(page.get_by_test_id("version-1")).to_contain_text("charging ₩10,000 or more: 10% bonus")

    page.get_by_test_id("simulate-days").fill("30")
    page.get_by_test_id("simulate-submit").click()
    result = page.get_by_test_id("simulation-result")
    expect(result).to_be_visible()
    expect(page.get_by_test_id("sim-charges")).to_have_text("2")
    expect(page.get_by_test_id("sim-earning")).to_have_text("2")
    expect(page.get_by_test_id("sim-bonus")).to_have_text("₩5,000")
    expect(result.locator("tr[data-member=bob]")).to_contain_text("₩3,000")
    expect(page).to_have_url(re.compile(r"/events/[0-9a-f-]{36}$"))  # htmx: no navigation
    screenshot(page, "admin-promotions-simulation", docs=True)

    page.get_by_test_id("rule-activate").click()
    expect(page.locator("h1 [data-status=active]")).to_be_visible()
    expect(page.locator(".coffer-flash-ok")).to_contain_text("Spring charge 10% is active.")
    expect(page.get_by_test_id("rule-activate")).to_have_count(0)

    page.goto(overview)
    row = page.get_by_test_id("events-table").locator("tr[data-name='Spring charge 10%']")
    expect(row.locator("[data-status=active]")).to_be_visible()
