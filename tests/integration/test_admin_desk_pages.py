"""Every desk page renders for each role allowed to see it, and is a 403 page for the others."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Connection

from coffer import app
from coffer.admins.permissions import ROLES, allowed
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import service as ledger
from coffer.tenancy.model import Service
from tests.integration.desk_support import Desk, audit_count, ledger_state, member_path


@pytest.fixture
def desk(db: Database, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk(db, clock)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    service = desk.service("Acme")
    member = desk.member(service, "alice", grade="gold")
    wallet = app.wallet_ref(service, member)
    now = desk.clock.now()

    def fund(conn: Connection) -> None:
        ledger.grant(conn, wallet, amount=5000, kind="paid", source="charge", actor="t", now=now)
        ledger.grant(
            conn,
            wallet,
            amount=800,
            kind="bonus",
            source="event",
            actor="t",
            now=now,
            expires_at=now + timedelta(days=3),
        )
        ledger.spend(conn, wallet, amount=300, reference="item-9", actor="t", now=now)
        ledger.reserve(
            conn,
            wallet,
            amount=200,
            expires_in_seconds=600,
            reference="match",
            actor="t",
            now=now,
        )

    desk.db.write(fund)
    return service


def _pages(service: Service) -> dict[str, str]:
    """GET path -> the permission it needs."""
    member = member_path(service, "alice")
    return {
        "/admin/": "dashboard.view",
        f"/admin/?service={service.id}": "dashboard.view",
        "/admin/members": "members.view",
        f"/admin/members?service={service.id}&q=ali&match=prefix&grade=gold&status=active": (
            "members.view"
        ),
        member: "members.view",
        member + "/history?kind=spend": "members.view",
        "/admin/approvals?status=all": "approvals.view",
        "/admin/services": "services.view",
        f"/admin/services/{service.id}": "services.view",
    }


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(desk: Desk, service: Service, role: str) -> None:
    admin = desk.admin(role)
    for path, permission in _pages(service).items():
        response = admin.get(path)
        expected = 200 if allowed(role, permission) else 403
        assert response.status_code == expected, (role, path, response.text[:300])


def test_dashboard_shows_todays_figures_and_the_chart(desk: Desk, service: Service) -> None:
    page = desk.admin("viewer").get("/admin/", headers={"Accept-Language": "en"}).text
    assert 'data-testid="figure-granted-paid"' in page
    assert "₩5,000" in page
    assert "₩800" in page
    assert "₩300" in page  # spent
    assert 'id="daily-chart"' in page
    assert "/static/vendor/chart-4.6.1.umd.min.js" in page
    assert 'data-testid="dashboard-widgets"' in page
    assert "cdn" not in page.lower()


def test_member_page_shows_balances_lots_holds_and_history(desk: Desk, service: Service) -> None:
    page = desk.admin("cs").get(member_path(service, "alice"), headers={"Accept-Language": "en"})
    text = page.text
    for marker in (
        'data-testid="balance-paid"',
        'data-testid="lots-table"',
        'data-testid="holds-table"',
        'data-testid="history-table"',
        'id="grant-form"',
        'id="revoke-form"',
        'id="status-form"',
        'name="amount"',
    ):
        assert marker in text, marker
    # 5,000 paid and 800 bonus; the 300 use and the 200 hold drew bonus first.
    assert _figure(text, "balance-paid") == "₩5,000"
    assert _figure(text, "balance-bonus") == "₩300"
    assert _figure(text, "balance-held") == "₩200"
    assert _figure(text, "balance-expiring-soon") == "₩300"


def _figure(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">.*?<div class="figure">([^<]*)</div>', html)
    assert found, testid
    return found.group(1)


def test_a_viewer_sees_the_member_but_no_actions_and_cannot_grant(
    desk: Desk, service: Service
) -> None:
    viewer = desk.admin("viewer")
    page = member_path(service, "alice")
    text = viewer.get(page).text
    assert 'id="grant-form"' not in text
    assert 'data-testid="reverse-form-' not in text
    before, audits = ledger_state(desk.db), audit_count(desk.db)
    for action in ("grant", "revoke", "reverse", "release-hold", "status"):
        form = {"amount": "100", "reason": "r", "cash_kind": "bonus", "form_key": "0" * 32}
        assert viewer.post(f"{page}/{action}", form).status_code == 403, action
    assert (ledger_state(desk.db), audit_count(desk.db)) == (before, audits)


def test_search_finds_by_exact_and_prefix(desk: Desk, service: Service) -> None:
    for name in ("alina", "bob", "Alice2"):
        desk.member(service, name)
    cs = desk.admin("cs")

    def found(**params: str) -> set[str]:
        text = cs.get("/admin/members", params={"service": str(service.id), **params}).text
        return {n for n in ("alice", "alina", "bob", "Alice2") if f'member-row-{n}"' in text}

    assert found(q="ali") == {"alice", "alina"}  # case-sensitive on both databases
    assert found(q="alice", match="exact") == {"alice"}
    assert found(q="ali", match="exact") == set()
    assert found(grade="gold") == {"alice"}
    assert found(status="suspended") == set()
    assert found(q="%") == set()
    assert found() == {"alice", "alina", "bob", "Alice2"}


def test_later_capabilities_add_dashboard_widgets(desk: Desk, service: Service) -> None:
    from coffer.web.admin.desk import widgets

    seen: list[str] = []

    def load(_conn: Connection, chosen: Service, _now: object) -> dict[str, object]:
        seen.append(chosen.name)
        return {"label": "Open cases", "value": "42", "href": "/admin/"}

    cs = desk.admin("cs")
    figure = "admin/desk/_widget_figure.html"
    widgets.register(widgets.Widget("cases", "dashboard.view", figure, load))
    widgets.register(widgets.Widget("secret", "audit.view", figure, load))
    try:
        with pytest.raises(ValueError, match="already registered"):
            widgets.register(widgets.Widget("cases", "dashboard.view", figure, load))
        page = cs.get("/admin/").text
    finally:
        widgets.unregister("cases")
        widgets.unregister("secret")
    assert 'data-testid="widget-cases"' in page
    assert "Open cases" in page
    assert 'data-testid="widget-secret"' not in page  # cs has no audit.view
    assert seen == ["Acme"]
