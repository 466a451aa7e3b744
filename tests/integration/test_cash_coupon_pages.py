"""The cash web's Coupons tab and the CS member page's coupons (both databases).

Members sign in through a real signed link; campaigns are made through ``coupons.campaigns``.
The live browser test is tests/browser/test_cash_coupons.py.
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

from coffer.catalog import products, providers
from coffer.catalog.model import Product
from coffer.coupons import campaigns, codes
from coffer.coupons.model import Campaign
from coffer.coupons.tables import coupon_attempts, coupon_codes, coupon_redemptions
from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger.tables import journals, lots
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import build_link
from coffer.tenancy.model import Service
from tests.integration.desk_support import Desk, member_path
from tests.ledger_helpers import assert_invariants

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')
#: A code with a right check character that no campaign holds, and one with a wrong one.
UNKNOWN = "2345-6789-ABCD-EFG" + codes.check_character("23456789ABCDEFG")
MISTYPED = UNKNOWN[:-1] + ("2" if UNKNOWN[-1] != "2" else "3")


@dataclass
class Member:
    external_id: str
    client: TestClient
    csrf: str

    def get(self, path: str) -> str:
        response: httpx.Response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.text

    def key(self) -> str:
        found = _KEY.search(self.get("/cash/coupons"))
        assert found is not None, "no redeem form on the coupons tab"
        return found.group(1)

    def redeem(self, code: str, key: str | None = None, **override: str) -> httpx.Response:
        form = {"csrf_token": self.csrf, "code": code, "key": key or self.key(), **override}
        response: httpx.Response = self.client.post("/cash/coupons/redeem", data=form)
        return response


@dataclass
class Scene:
    db: Database
    clock: ManualClock
    desk: Desk
    service: Service
    potion: Product
    clients: list[TestClient] = field(default_factory=list)

    def member(self, external_id: str) -> Member:
        secret = self.db.read(lambda conn: tenancy.link_secret(conn, self.service.id))
        ts = int(self.clock.now().timestamp())
        web = TestClient(self.desk.server, base_url=BASE, follow_redirects=False)
        web.headers["Accept-Language"] = "en"
        self.clients.append(web)
        entered = web.get(build_link(BASE, secret, self.service.id, external_id, ts))
        assert entered.status_code == 303, entered.text
        found = _CSRF.search(web.get("/cash").text)
        assert found is not None
        return Member(external_id, web, found.group(1))

    def campaign(self, kind: str = "cash", *, days: int = 30, **fields: Any) -> Campaign:
        now = self.clock.now()
        spec: dict[str, Any] = {"code_mode": "bulk", **fields}
        if kind == "cash":
            spec.setdefault("cash_amount", 1_000)
        if kind == "product":
            spec.setdefault("product_id", self.potion.id)
            spec.setdefault("product_quantity", 3)
        if kind == "discount":
            spec.setdefault("discount_rule", {"effect": {"kind": "percent_off", "value": 1000}})

        def make(conn: Connection) -> Campaign:
            made = campaigns.create_campaign(
                conn, self.service.id, name=f"{kind} campaign", kind=kind,
                valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=days),
                actor="test", now=now, **spec,
            )  # fmt: skip
            return campaigns.activate(conn, self.service.id, made.id, now=now)

        return self.db.write(make)

    def code(self, campaign: Campaign, to: str | None = None) -> str:
        """A new code of the campaign (issued to member ``to``), as members see it."""

        def make(conn: Connection) -> str:
            if to is None:
                (made,) = campaigns.generate_codes(conn, campaign, 1, self.clock.now())
            else:
                member = tenancy.get_member(conn, self.service.id, to)
                made = campaigns.issue_to_member(conn, campaign, member, self.clock.now())
            return codes.format_code(made.code)

        return self.db.write(make)

    def bonus(self, external_id: str) -> int:
        def read(conn: Connection) -> int:
            member = tenancy.get_member(conn, self.service.id, external_id)
            return queries.balance(conn, member.id, self.clock.now()).bonus

        return self.db.read(read)

    def counts(self) -> tuple[int, ...]:
        """Rows a redemption writes (attempts aside)."""

        def read(conn: Connection) -> tuple[int, ...]:
            used = select(func.count()).select_from(coupon_codes)
            counted = [select(func.count()).select_from(t) for t in
                       (coupon_redemptions, journals, lots, entitlements)]  # fmt: skip
            counted.append(used.where(coupon_codes.c.status == "redeemed"))
            return tuple(int(conn.execute(q).scalar_one()) for q in counted)

        return self.db.read(read)

    def failed_attempts(self) -> int:
        query = select(func.count()).select_from(coupon_attempts)
        return int(self.db.read(lambda conn: conn.execute(query).scalar_one()))


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    desk = Desk(db, clock)
    service = desk.service("Acme")
    for name in ("alice", "bob"):
        desk.member(service, name)

    def stock(conn: Connection) -> Product:
        cp = providers.create_provider(conn, service.id, name="CP", now=clock.now())
        spec = {
            "sku": "potion", "kind": "item", "consumable": True, "cp_id": cp.id,
            "name_ko": "물약", "name_en": "Potion", "price": 300,
        }  # fmt: skip
        return products.create_product(conn, service.id, spec, now=clock.now(), status="on_sale")

    scene = Scene(db, clock, desk, service, db.write(stock))
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


# --- the tab ------------------------------------------------------------------------------------


def test_the_coupons_tab_is_a_link_now(scene: Scene) -> None:
    alice = scene.member("alice")
    home = alice.get("/cash")
    assert 'href="/cash/coupons"' in home
    assert 'class="cash-soon"' not in home
    page = alice.get("/cash/coupons")
    assert 'aria-current="page" data-testid="tab-coupons"' in page
    assert 'data-testid="coupon-redeem-form"' in page
    assert text_of(page, "coupons-none") == "No unused coupons."
    anonymous = TestClient(scene.desk.server, base_url=BASE, follow_redirects=False)
    scene.clients.append(anonymous)
    assert anonymous.get("/cash/coupons").status_code == 401


def test_a_cash_coupon_adds_bonus_cash_to_the_balance(scene: Scene) -> None:
    code = scene.code(scene.campaign("cash", cash_amount=1_500, bonus_days=30), to="alice")
    alice = scene.member("alice")
    listed = alice.get("/cash/coupons")
    assert code in text_of(listed, "coupons-unused") or code in listed
    assert "₩1,500 bonus cash" in listed
    redeemed = alice.redeem(code.lower())  # case and hyphens do not matter
    assert redeemed.status_code == 303, redeemed.text
    assert redeemed.headers["location"].startswith("/cash/coupons?redeemed=")
    page = alice.get(redeemed.headers["location"])
    assert text_of(page, "coupon-redeemed-text") == "You got ₩1,500 bonus cash"
    assert text_of(page, "coupon-bonus") == "₩1,500"
    assert text_of(page, "coupon-available") == "₩1,500"
    assert 'data-testid="coupons-done"' in page
    assert 'data-status="redeemed"' in page
    assert text_of(page, "coupon-gave") == "+₩1,500"
    assert scene.bonus("alice") == 1_500
    # The balance page shows it as bonus cash, expiring with the coupon's days.
    home = alice.get("/cash")
    assert text_of(home, "bonus") == "₩1,500"
    lots = alice.get("/cash/lots")
    assert 'Bonus cash<br><small class="coffer-muted">Coupon · ' in lots
    assert "2026-03-31" in lots  # 30 days
    assert_invariants(scene.db)


def test_a_product_coupon_adds_the_product_to_my_items(scene: Scene) -> None:
    code = scene.code(scene.campaign("product"))
    alice = scene.member("alice")
    redeemed = alice.redeem(code)
    assert redeemed.status_code == 303, redeemed.text
    page = alice.get(redeemed.headers["location"])
    assert text_of(page, "coupon-redeemed-text") == "You got Potion \u00d7 3"
    items = alice.get("/cash/items")
    assert "Potion" in items
    assert scene.bonus("alice") == 0


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("malformed", 422, "This is not a coupon code. Check it for typing mistakes."),
        ("unknown", 404, "There is no coupon with this code. Check it for typing mistakes."),
        ("expired", 409, "This coupon expired on 2026-03-03 09:00."),
        ("used", 409, "This coupon has already been used."),
        ("not_yours", 409, "This coupon was given to someone else: only they can use it."),
        ("revoked", 409, "This coupon is no longer valid."),
        ("discount", 409, "This is a discount coupon: use this code at checkout"),
    ],
)
def test_each_refusal_is_shown_and_changes_nothing(
    scene: Scene, case: str, status: int, says: str
) -> None:
    if case == "malformed":
        code = MISTYPED
    elif case == "unknown":
        code = UNKNOWN
    elif case == "expired":
        code = scene.code(scene.campaign("cash", days=2))
        scene.clock.advance(timedelta(days=3))
    elif case == "used":
        code = scene.code(scene.campaign("cash"))
        assert scene.member("bob").redeem(code).status_code == 303
    elif case == "not_yours":
        code = scene.code(scene.campaign("cash"), to="bob")
    elif case == "revoked":
        campaign = scene.campaign("cash")
        code = scene.code(campaign)
        scene.db.write(
            lambda conn: campaigns.revoke_unredeemed(
                conn, scene.service.id, now=scene.clock.now(), campaign_id=campaign.id
            )
        )
    else:
        code = scene.code(scene.campaign("discount"))
    alice = scene.member("alice")
    before, bonus = scene.counts(), scene.bonus("alice")
    refused = alice.redeem(code)
    assert refused.status_code == status, re.findall(r"coupon-error[^>]*>([^<]*)", refused.text)
    assert text_of(refused.text, "coupon-error").startswith(says)
    assert f'value="{code}"' in refused.text  # the box keeps what was typed
    assert scene.counts() == before
    assert scene.bonus("alice") == bonus
    assert_invariants(scene.db)


def test_a_double_submit_redeems_once(scene: Scene) -> None:
    # A public code a member may redeem twice: only the form's key stops a double submit.
    campaign = scene.campaign("cash", code_mode="public", public_code="SPRING2026",
                              per_member_limit=2)  # fmt: skip
    alice = scene.member("alice")
    key = alice.key()
    first = alice.redeem("spring2026", key)
    second = alice.redeem("spring2026", key)
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]
    assert scene.bonus("alice") == 1_000
    assert scene.counts()[0] == 1
    # The same key for another code is refused; a fresh form redeems again (the limit is 2).
    reused = alice.redeem(scene.code(scene.campaign("cash")), key)
    assert reused.status_code == 422
    assert text_of(reused.text, "coupon-error") == "This page has expired. Enter the code again."
    assert alice.redeem("SPRING-2026").status_code == 303
    assert scene.bonus("alice") == 2_000
    third = alice.redeem("SPRING2026")
    assert third.status_code == 409
    assert text_of(third.text, "coupon-error") == "You have already used this coupon."
    assert campaign.per_member_limit == 2


def test_without_the_csrf_token_nothing_is_redeemed(scene: Scene) -> None:
    code = scene.code(scene.campaign("cash"))
    alice = scene.member("alice")
    before = scene.counts()
    refused = alice.redeem(code, csrf_token="forged")
    assert refused.status_code == 403
    assert 'data-problem="csrf_failed"' in refused.text
    assert scene.counts() == before


def test_too_many_wrong_codes_get_a_429_page(scene: Scene) -> None:
    good = scene.code(scene.campaign("cash"))
    alice = scene.member("alice")
    for attempt in range(10):
        wrong = alice.redeem(UNKNOWN)
        assert wrong.status_code == 404, attempt
    assert scene.failed_attempts() == 10
    before = scene.counts()
    limited = alice.redeem(good)  # even a good code: guessing gets 429s, never a hit
    assert limited.status_code == 429
    assert text_of(limited.text, "coupon-error") == (
        "Too many codes that did not work. Wait 10 minutes, then try again."
    )
    assert 'data-testid="coupon-redeem-form"' in limited.text  # a page, not an error envelope
    assert scene.counts() == before
    assert scene.bonus("alice") == 0
    # Another member is not limited; after the window the member may try again.
    assert scene.member("bob").redeem(scene.code(scene.campaign("cash"))).status_code == 303
    scene.clock.advance(timedelta(minutes=11))
    assert alice.redeem(good).status_code == 303
    assert scene.bonus("alice") == 1_000


def test_korean_messages(scene: Scene) -> None:
    alice = scene.member("alice")
    alice.client.headers["Accept-Language"] = "ko"
    refused = alice.redeem(UNKNOWN)
    assert refused.status_code == 404
    message = text_of(refused.text, "coupon-error")
    assert message
    assert "coupon" not in message.lower()
    assert "쿠폰" in refused.text


# --- the CS member page -------------------------------------------------------------------------


def test_the_member_page_lists_coupons_and_redemptions(scene: Scene) -> None:
    cash = scene.campaign("cash")
    issued = scene.code(cash, to="alice")
    unused = scene.code(cash, to="alice")
    alice = scene.member("alice")
    assert alice.redeem(issued).status_code == 303
    cs = scene.desk.admin("cs")
    cs.client.headers["Accept-Language"] = "en"
    page = cs.get(member_path(scene.service, "alice"))
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="member-coupons"' in html
    assert issued in html
    assert unused in html
    assert html.count('data-status="redeemed"') >= 1
    assert html.count('data-status="unredeemed"') == 1
    assert 'data-testid="member-coupon-redemptions"' in html
    assert "₩1,000 bonus cash" in html
    # A viewer sees the list without the cancel buttons.
    viewer = scene.desk.admin("viewer")
    seen = viewer.get(member_path(scene.service, "alice")).text
    assert 'data-testid="member-coupon-redemptions"' in seen
    assert 'data-testid="redemption-cancel-' not in seen
    # CS cancels the redemption from the member page: the bonus goes back.
    found = re.search(
        r'<form method="post" action="([^"]+)"[^>]*data-testid="redemption-cancel-([0-9a-f-]+)"'
        r'.*?name="campaign_id" value="([^"]+)".*?name="next" value="([^"]+)"',
        html, re.S,
    )  # fmt: skip
    assert found is not None
    action, redemption_id, campaign_id, back = found.groups()
    assert back == member_path(scene.service, "alice")
    assert action == f"/admin/coupons/{scene.service.id}/redemptions/{redemption_id}/cancel"
    assert campaign_id == str(cash.id)
    assert scene.bonus("alice") == 1_000
    cancelled = cs.post(
        action, {"campaign_id": campaign_id, "reason": "Issued by mistake", "next": back}
    )
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, back), cancelled.text
    assert scene.bonus("alice") == 0
    after = cs.get(member_path(scene.service, "alice")).text
    assert f'data-testid="member-redemption-{redemption_id}" data-status="cancelled"' in after
    assert "Issued by mistake" in after
    assert 'data-testid="redemption-cancel-' not in after
    assert_invariants(scene.db)
