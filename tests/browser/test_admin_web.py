"""The admin web in a real browser: sign-in and sign-out, a CS grant and its audit row, a grant
that needs a second admin's approval, and a viewer who may not grant."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from coffer.cli.demo_admins import DEMO_ADMINS, ensure_demo_admins
from coffer.tenancy import service as tenancy
from tests.browser.conftest import LiveServer, NewPage, screenshot

pytestmark = pytest.mark.browser

#: Grants of this many won or more wait for a second admin (set on Demo Game below).
THRESHOLD = 50_000
PASSWORDS = {role: (email, password) for email, role, password in DEMO_ADMINS}


@pytest.fixture(scope="module", autouse=True)
def admins(live_server: LiveServer) -> None:
    """The demo admin accounts (one per role) and an approval threshold on Demo Game."""
    rt = live_server.runtime
    ensure_demo_admins(rt)
    service_id = live_server.world.service_id
    rt.db.write(
        lambda conn: tenancy.update_service_settings(
            conn, service_id, grant_approval_threshold=THRESHOLD
        )
    )


def sign_in(page: Page, live_server: LiveServer, role: str) -> None:
    email, password = PASSWORDS[role]
    page.goto(f"{live_server.base_url}/admin/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action='/admin/login'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server.base_url)}/admin/?$"))


def member_url(live_server: LiveServer, external_id: str) -> str:
    return f"{live_server.base_url}/admin/members/{live_server.world.service_id}/{external_id}"


def available(live_server: LiveServer, external_id: str) -> int:
    with live_server.api() as api:
        balance = api.get(f"/members/{external_id}/balance").json()
    return int(balance["available"])


def test_sign_in_and_out(live_server: LiveServer, new_page: NewPage) -> None:
    page = new_page()
    page.goto(f"{live_server.base_url}/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    email, _ = PASSWORDS["operator"]
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill("not-the-password")
    page.locator("form[action='/admin/login'] button[type=submit]").click()
    expect(page.locator("#login-error")).to_be_visible()
    screenshot(page, "admin-login-refused")

    sign_in(page, live_server, "operator")
    expect(page.get_by_test_id("today-figures")).to_be_visible()
    expect(page.get_by_test_id("daily-chart")).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "admin-dashboard", docs=True)

    page.locator("form.coffer-logout button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.goto(f"{live_server.base_url}/admin/members")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_cs_grant_with_a_reason_shows_in_the_audit_log(
    live_server: LiveServer, new_page: NewPage
) -> None:
    before = available(live_server, "alice")
    cs = new_page()
    sign_in(cs, live_server, "cs")
    cs.goto(member_url(live_server, "alice"))
    form = cs.get_by_test_id("grant-form")
    form.locator("input[name=amount]").fill("1500")
    form.locator("select[name=cash_kind]").select_option("bonus")
    form.locator("textarea[name=reason]").fill("compensation for the outage on the 3rd")
    cs.get_by_test_id("grant-submit").click()
    expect(cs.locator(".coffer-flash-ok")).to_be_visible()
    assert available(live_server, "alice") == before + 1_500
    cs.wait_for_load_state("networkidle")
    screenshot(cs, "admin-member", docs=True)

    operator = new_page()
    sign_in(operator, live_server, "operator")
    operator.goto(f"{live_server.base_url}/admin/audit?action=cash.grant")
    rows = operator.locator("#audit-entries tbody tr")
    expect(rows.first).to_contain_text("compensation for the outage on the 3rd")
    expect(rows.first).to_contain_text(PASSWORDS["cs"][0])
    expect(operator.locator("#chain-status")).to_have_attribute("data-chain", "ok")
    screenshot(operator, "admin-audit", docs=True)


def test_a_large_grant_waits_for_a_second_admin(live_server: LiveServer, new_page: NewPage) -> None:
    before = available(live_server, "bob")
    cs = new_page()
    sign_in(cs, live_server, "cs")
    cs.goto(member_url(live_server, "bob"))
    form = cs.get_by_test_id("grant-form")
    form.locator("input[name=amount]").fill(str(THRESHOLD + 10_000))
    form.locator("select[name=cash_kind]").select_option("bonus")
    form.locator("textarea[name=reason]").fill("VIP event prize")
    cs.get_by_test_id("grant-submit").click()
    expect(cs.locator(".coffer-flash-ok")).to_contain_text("approval")
    expect(cs.get_by_test_id("member-pending-approvals")).to_contain_text("VIP event prize")
    assert available(live_server, "bob") == before  # nothing granted yet

    operator = new_page()
    sign_in(operator, live_server, "operator")
    operator.goto(f"{live_server.base_url}/admin/approvals")
    row = operator.locator("tr[data-status=pending]", has_text="VIP event prize")
    expect(row).to_have_count(1)
    screenshot(operator, "admin-approvals", docs=True)
    approve = row.locator("button[data-testid^=approve-]")
    approval_form = row.locator("form[data-testid^=approve-form-]")
    action = approval_form.get_attribute("action")
    token = approval_form.locator("input[name=csrf_token]").get_attribute("value")
    approve.click()
    expect(operator.locator(".coffer-flash-ok")).to_be_visible()
    expect(operator.locator("tr[data-status=pending]", has_text="VIP event prize")).to_have_count(0)
    operator.goto(f"{live_server.base_url}/admin/approvals?status=all")
    decided = operator.locator("tr", has_text="VIP event prize")
    expect(decided).to_have_attribute("data-status", "approved")
    expect(decided).to_contain_text(PASSWORDS["operator"][0])
    assert available(live_server, "bob") == before + THRESHOLD + 10_000

    # Approving the same request again (a double click, a replayed form) changes nothing.
    assert action is not None
    assert token is not None
    again = operator.request.post(
        f"{live_server.base_url}{action}",
        form={"csrf_token": token, "service": str(live_server.world.service_id)},
    )
    assert again.status == 409
    assert available(live_server, "bob") == before + THRESHOLD + 10_000


def test_a_viewer_cannot_grant(live_server: LiveServer, new_page: NewPage) -> None:
    before = available(live_server, "alice")
    page = new_page()
    sign_in(page, live_server, "viewer")
    page.goto(member_url(live_server, "alice"))
    expect(page.get_by_test_id("balances")).to_be_visible()
    expect(page.get_by_test_id("grant-form")).to_have_count(0)
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token
    forced = page.request.post(
        member_url(live_server, "alice") + "/grant",
        form={
            "csrf_token": token,
            "amount": "1000",
            "cash_kind": "bonus",
            "reason": "trying anyway",
            "form_key": "viewer-try",
        },
    )
    assert forced.status == 403
    assert available(live_server, "alice") == before


def test_admin_pages_fit_a_tablet(live_server: LiveServer, new_page: NewPage) -> None:
    """At 820 px (a portrait tablet) no admin page scrolls sideways."""
    page = new_page()
    page.set_viewport_size({"width": 820, "height": 1100})
    sign_in(page, live_server, "superuser")
    for path in [
        "/admin/",
        "/admin/members",
        member_url(live_server, "alice").removeprefix(live_server.base_url),
        "/admin/approvals",
        "/admin/services",
        "/admin/audit",
    ]:
        page.goto(f"{live_server.base_url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 820, f"{path} is {width}px wide"
