"""Charging on the member cash web, without a browser or a PG (both databases).

The member signs in through a real signed link; charges reach their states the way a PG's
answer would put them there (see ``charge_support``). The live browser test
(tests/browser/test_charging.py) goes through the sandbox PG's real checkout page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.payments import limits
from coffer.payments.charges import Charge
from coffer.payments.limits import ChargeLimits
from coffer.server import create_server
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import build_link
from coffer.tenancy.model import Service
from tests.integration.charge_support import (
    available,
    charge,
    connect_sandbox,
    counts,
    make_charge,
    refunds_of,
    spend,
)
from tests.ledger_helpers import assert_invariants

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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


@dataclass
class Scene:
    db: Database
    clock: ManualClock
    service: Service
    other: Service
    server: FastAPI
    clients: list[TestClient] = field(default_factory=list)

    def browser(self) -> TestClient:
        """A browser of its own (cookies), not following redirects, reading English."""
        web = TestClient(self.server, base_url=BASE, follow_redirects=False)
        web.headers["Accept-Language"] = "en"
        self.clients.append(web)
        return web

    def member(self, external_id: str, service: Service | None = None) -> Member:
        owner = service or self.service
        secret = self.db.read(lambda conn: tenancy.link_secret(conn, owner.id))
        ts = int(self.clock.now().timestamp())
        web = self.browser()
        entered = web.get(build_link(BASE, secret, owner.id, external_id, ts))
        assert entered.status_code == 303, entered.text
        found = _CSRF.search(web.get("/cash").text)
        assert found is not None
        return Member(external_id, web, found.group(1))


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    def setup(conn: Connection) -> tuple[Service, Service]:
        service, _key = app.create_service(
            conn, name="Acme", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        other, _key = app.create_service(
            conn, name="Other", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        for owner, name in ((service, "alice"), (service, "bob"), (other, "zoe")):
            app.create_member(conn, owner, name, clock=clock)
        return service, other

    service, other = db.write(setup)
    connect_sandbox(db, clock, service, methods=("card", "virtual_account", "mobile"))
    connect_sandbox(db, clock, other)
    scene = Scene(
        db, clock, service, other, create_server(Runtime(Settings.from_env({}), db, clock))
    )
    try:
        yield scene
    finally:
        for web in scene.clients:
            web.close()


def methods_offered(html: str) -> list[str]:
    return re.findall(r'data-testid="method-(\w+)"', html)


def error(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', html, re.S)
    assert found is not None, f"no {name} on the page"
    return found.group(1).replace("&#39;", "'").strip()


def test_the_home_page_links_to_charging(scene: Scene) -> None:
    alice = scene.member("alice")
    home = alice.get("/cash")
    assert 'href="/cash/charge"' in home
    assert 'data-testid="charge-cash"' in home


def test_the_form_offers_presets_and_only_the_routed_methods(scene: Scene) -> None:
    page = scene.member("alice").get("/cash/charge")
    for preset in ("5000", "10000", "30000", "50000"):
        assert f'data-testid="preset-{preset}"' in page
    assert "₩30,000" in page
    assert methods_offered(page) == ["card", "virtual_account", "mobile"]


def test_no_routed_method_means_no_form(db: Database, clock: ManualClock) -> None:
    def setup(conn: Connection) -> Service:
        service, _key = app.create_service(
            conn, name="Bare", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        app.create_member(conn, service, "ann", clock=clock)
        return service

    bare = db.write(setup)
    bare_scene = Scene(
        db, clock, bare, bare, create_server(Runtime(Settings.from_env({}), db, clock))
    )
    page = bare_scene.member("ann").get("/cash/charge")
    bare_scene.clients[0].close()
    assert 'data-testid="charge-unavailable"' in page
    assert 'data-testid="charge-form"' not in page


def test_confirm_shows_the_amount_and_the_balance_after(scene: Scene) -> None:
    make_charge(scene.db, scene.clock, scene.service, "alice", amount=5_000)
    page = scene.member("alice").get("/cash/charge/confirm?amount=10000&method=card")
    assert error(page, "confirm-amount") == "₩10,000"
    assert error(page, "confirm-balance-after") == "₩15,000"
    typed = scene.member("alice").get(
        "/cash/charge/confirm?amount=10000&other_amount=12000&method=card"
    )
    assert error(typed, "confirm-amount") == "₩12,000"  # a typed amount wins over a preset


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("method=card", "charge-error-amount", "Choose or enter an amount."),
        ("other_amount=1%2C000&method=card", "charge-error-amount", "digits only"),
        ("other_amount=0&method=card", "charge-error-amount", "above zero"),
        ("amount=10000", "charge-error-method", "Choose a payment method."),
        ("amount=10000&method=transfer", "charge-error-method", "Choose a payment method."),
        ("amount=10000&method=bitcoin", "charge-error-method", "Choose a payment method."),
    ],
)
def test_bad_choices_show_the_form_again_with_the_error(
    scene: Scene, query: str, field: str, message: str
) -> None:
    alice = scene.member("alice")
    response = alice.client.get(f"/cash/charge/confirm?{query}")
    assert response.status_code == 422
    assert message in error(response.text, field)
    assert 'data-testid="charge-form"' in response.text


def test_paying_opens_the_charge_and_goes_to_the_pg_checkout(scene: Scene) -> None:
    alice = scene.member("alice")
    response = alice.client.post(
        "/cash/charge", data={"csrf_token": alice.csrf, "other_amount": "10000", "method": "card"}
    )
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path.startswith("/pg/checkout/")
    opened = charge(scene.db, UUID(location.path.rsplit("/", 1)[1]))
    assert (opened.amount, opened.method, opened.status) == (10_000, "card", "created")
    assert opened.return_url == f"{BASE}/cash/charge/done"
    assert available(scene.db, scene.clock, scene.service, "alice") == 0


def test_paying_without_the_csrf_token_is_refused(scene: Scene) -> None:
    alice = scene.member("alice")
    before = counts(scene.db)
    for token in ("", "forged"):
        response = alice.client.post(
            "/cash/charge", data={"csrf_token": token, "amount": "10000", "method": "card"}
        )
        assert response.status_code == 403
    assert counts(scene.db) == before


def test_a_limit_refusal_is_shown_and_opens_nothing(scene: Scene) -> None:
    scene.db.write(
        lambda conn: limits.set_limits(
            conn, scene.service.id, "card", ChargeLimits(max_amount=20_000), now=scene.clock.now()
        )
    )
    alice = scene.member("alice")
    before = counts(scene.db)
    response = alice.client.post(
        "/cash/charge", data={"csrf_token": alice.csrf, "amount": "30000", "method": "card"}
    )
    assert response.status_code == 422
    assert error(response.text, "charge-error-amount") == (
        "The largest charge by this method is ₩20,000."
    )
    assert counts(scene.db) == before


def charge_page(member: Member, found: Charge, query: str = "") -> str:
    done = member.client.get(f"/cash/charge/done?charge_id={found.id}{query}")
    assert done.status_code == 303
    assert done.headers["location"] == f"/cash/charges/{found.id}"
    return member.get(done.headers["location"])


def test_the_result_is_read_from_the_database_not_the_redirect(scene: Scene) -> None:
    failed = make_charge(scene.db, scene.clock, scene.service, "alice", status="failed")
    page = charge_page(scene.member("alice"), failed, "&status=approved")
    assert 'data-status="failed"' in page
    assert error(page, "charge-failure") == "the card issuer declined"
    assert 'data-testid="charge-balance"' not in page


def test_an_approved_charge_shows_the_new_balance(scene: Scene) -> None:
    make_charge(scene.db, scene.clock, scene.service, "alice", amount=5_000)
    paid = make_charge(scene.db, scene.clock, scene.service, "alice", amount=10_000)
    page = charge_page(scene.member("alice"), paid)
    assert error(page, "charge-outcome") == "₩10,000 charged"
    assert error(page, "charge-balance") == "₩15,000"
    assert "hx-get" not in page.split('id="charge-status"')[1].split(">")[0]  # settled: no poll


def test_a_virtual_account_shows_where_to_deposit(scene: Scene) -> None:
    waiting = make_charge(
        scene.db, scene.clock, scene.service, "alice", amount=30_000,
        method="virtual_account", status="waiting_for_deposit",
    )  # fmt: skip
    page = charge_page(scene.member("alice"), waiting)
    assert error(page, "va-account") == "110-222-333444"
    assert error(page, "va-bank") == "88"
    assert error(page, "va-due").startswith("2026-03-04")


def test_an_unsettled_charge_polls_until_it_settles(scene: Scene) -> None:
    unknown = make_charge(scene.db, scene.clock, scene.service, "alice", status="unknown")
    alice = scene.member("alice")
    page = charge_page(alice, unknown)
    assert error(page, "charge-outcome") == "Processing your payment…"
    assert f'hx-get="/cash/charges/{unknown.id}/live" hx-trigger="every 2s"' in page
    live = alice.get(f"/cash/charges/{unknown.id}/live")
    assert 'data-status="unknown"' in live
    assert "hx-trigger" in live


def test_the_live_fragment_stops_polling_when_the_session_ends(scene: Scene) -> None:
    unknown = make_charge(scene.db, scene.clock, scene.service, "alice", status="unknown")
    web = scene.browser()
    response = web.get(f"/cash/charges/{unknown.id}/live")
    assert response.status_code == 286
    assert 'data-testid="session-ended"' in response.text


def test_my_charges_lists_only_mine_with_what_each_can_refund(scene: Scene) -> None:
    mine = make_charge(scene.db, scene.clock, scene.service, "alice", amount=10_000)
    failed = make_charge(scene.db, scene.clock, scene.service, "alice", status="failed")
    bobs = make_charge(scene.db, scene.clock, scene.service, "bob")
    spend(scene.db, scene.clock, scene.service, "alice", 4_000)
    page = scene.member("alice").get("/cash/charges")
    listed = re.findall(r'data-testid="charge-([0-9a-f-]{36})"', page)
    assert listed == [str(failed.id), str(mine.id)]
    assert str(bobs.id) not in page
    assert error(page, f"refund-link-{mine.id}") == "Refund ₩6,000"
    assert f"refund-link-{failed.id}" not in page


def test_another_members_charge_is_not_found_and_cannot_be_refunded(scene: Scene) -> None:
    bobs = make_charge(scene.db, scene.clock, scene.service, "bob")
    zoes = make_charge(scene.db, scene.clock, scene.other, "zoe")
    alice = scene.member("alice")
    before = (counts(scene.db), available(scene.db, scene.clock, scene.service, "bob"))
    for found in (bobs, zoes):
        for path in (f"/cash/charges/{found.id}", f"/cash/charges/{found.id}/live"):
            response = alice.client.get(path)
            assert response.status_code == 404, path
            assert str(found.amount) not in response.text
        refused = alice.client.post(
            f"/cash/charges/{found.id}/refund", data={"csrf_token": alice.csrf, "reason": "mine"}
        )
        assert refused.status_code == 404
    done = alice.client.get(f"/cash/charge/done?charge_id={bobs.id}&status=approved")
    assert alice.client.get(done.headers["location"]).status_code == 404
    assert (counts(scene.db), available(scene.db, scene.clock, scene.service, "bob")) == before


def test_a_refund_request_takes_all_the_unspent_cash(scene: Scene) -> None:
    paid = make_charge(scene.db, scene.clock, scene.service, "alice", amount=10_000)
    spend(scene.db, scene.clock, scene.service, "alice", 3_000)
    alice = scene.member("alice")
    page = alice.get(f"/cash/charges/{paid.id}")
    assert "Request a refund of ₩7,000" in page
    response = alice.client.post(
        f"/cash/charges/{paid.id}/refund", data={"csrf_token": alice.csrf, "reason": "not needed"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/cash/charges/{paid.id}?refund=requested"
    (refund,) = refunds_of(scene.db, paid.id)
    assert (refund.amount, refund.status, refund.actor) == (7_000, "pending", "member:alice")
    assert available(scene.db, scene.clock, scene.service, "alice") == 0
    shown = alice.get(response.headers["location"])
    assert 'data-testid="refund-requested"' in shown
    assert "Being processed" in shown
    assert 'data-testid="refund-form"' not in shown  # nothing unspent is left
    assert_invariants(scene.db)


@pytest.mark.parametrize(
    ("reason", "status", "message"),
    [("", 422, "A reason is required."), ("x" * 501, 422, "500 characters or fewer")],
)
def test_a_refund_request_without_a_good_reason_changes_nothing(
    scene: Scene, reason: str, status: int, message: str
) -> None:
    paid = make_charge(scene.db, scene.clock, scene.service, "alice")
    alice = scene.member("alice")
    before = (counts(scene.db), available(scene.db, scene.clock, scene.service, "alice"))
    response = alice.client.post(
        f"/cash/charges/{paid.id}/refund", data={"csrf_token": alice.csrf, "reason": reason}
    )
    assert response.status_code == status
    assert message in error(response.text, "refund-error-reason")
    assert (counts(scene.db), available(scene.db, scene.clock, scene.service, "alice")) == before


def test_a_refund_while_one_is_in_flight_is_refused(scene: Scene) -> None:
    paid = make_charge(scene.db, scene.clock, scene.service, "alice")
    alice = scene.member("alice")
    url = f"/cash/charges/{paid.id}/refund"
    first = alice.client.post(url, data={"csrf_token": alice.csrf, "reason": "first"})
    assert first.status_code == 303
    before = (counts(scene.db), available(scene.db, scene.clock, scene.service, "alice"))
    again = alice.client.post(url, data={"csrf_token": alice.csrf, "reason": "again"})
    assert again.status_code == 409
    assert error(again.text, "refund-error-form") == (
        "A refund of this charge is already being processed. Try again when it is done."
    )
    assert (counts(scene.db), available(scene.db, scene.clock, scene.service, "alice")) == before


def test_a_refund_request_needs_the_csrf_token(scene: Scene) -> None:
    paid = make_charge(scene.db, scene.clock, scene.service, "alice")
    alice = scene.member("alice")
    response = alice.client.post(f"/cash/charges/{paid.id}/refund", data={"reason": "x"})
    assert response.status_code == 403
    assert refunds_of(scene.db, paid.id) == []


def test_carrier_billing_says_refunds_after_its_month_go_by_bank(scene: Scene) -> None:
    phone = make_charge(scene.db, scene.clock, scene.service, "alice", method="mobile")
    alice = scene.member("alice")
    assert 'data-testid="carrier-note"' in alice.get(f"/cash/charges/{phone.id}")
    confirm = alice.get("/cash/charge/confirm?amount=5000&method=mobile")
    assert 'data-testid="carrier-note"' in confirm
    card = make_charge(scene.db, scene.clock, scene.service, "alice", method="card")
    assert 'data-testid="carrier-note"' not in alice.get(f"/cash/charges/{card.id}")


def test_without_a_session_every_page_is_refused(scene: Scene) -> None:
    paid = make_charge(scene.db, scene.clock, scene.service, "alice")
    web = scene.browser()
    for path in ("/cash/charge", "/cash/charge/confirm?amount=5000&method=card", "/cash/charges",
                 f"/cash/charges/{paid.id}", f"/cash/charge/done?charge_id={paid.id}"):  # fmt: skip
        assert web.get(path).status_code == 401, path
    assert web.post("/cash/charge", data={"amount": "5000", "method": "card"}).status_code == 401


def test_the_change_link_keeps_the_choice(scene: Scene) -> None:
    alice = scene.member("alice")
    page = alice.get("/cash/charge/confirm?amount=30000&method=mobile")
    link = re.search(r'href="([^"]+)" data-testid="charge-change"', page)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query == {"amount": ["30000"], "method": ["mobile"]}
    again = alice.get(link.group(1).replace("&amp;", "&"))
    assert re.search(r'value="30000" checked', again)
    assert re.search(r'value="mobile" data-testid="method-mobile" checked', again)
