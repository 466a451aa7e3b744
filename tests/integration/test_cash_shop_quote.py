"""The cash web shop's confirmation as a quote: the discount policies that apply, a coupon box,
and buying at exactly the quoted total (both databases).

Policies are made through ``pricing.versioned.POLICIES``, coupons through ``coupons.campaigns``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import products, providers
from coffer.catalog.model import Product
from coffer.coupons import campaigns, codes
from coffer.coupons.tables import coupon_codes, coupon_redemptions
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.tables import journals
from coffer.pricing.versioned import POLICIES
from coffer.purchases import records
from coffer.purchases.model import Purchase
from coffer.purchases.tables import purchase_lines, purchases
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import build_link
from coffer.tenancy.model import Service
from tests.integration.desk_support import Desk
from tests.ledger_helpers import assert_invariants

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')
_TOTAL = re.compile(r'name="total" value="(\d+)"')
_COUPON = re.compile(r'name="coupon" value="([^"]*)"')
#: The minus sign the pages write before a discount.
MINUS = "\u2212"
UNKNOWN = "2345-6789-ABCD-EFG" + codes.check_character("23456789ABCDEFG")
PRICE = 10_000


@dataclass
class Member:
    client: TestClient
    csrf: str

    def confirm(self, product: Product, coupon: str = "", quantity: int = 1) -> httpx.Response:
        params = {"quantity": str(quantity), **({"coupon": coupon} if coupon else {})}
        response: httpx.Response = self.client.get(
            f"/cash/shop/products/{product.id}/confirm", params=params
        )
        return response

    def buy_form(self, page: str) -> dict[str, str]:
        """The hidden fields of the confirmation's buy form."""
        key, total, coupon = _KEY.search(page), _TOTAL.search(page), _COUPON.search(page)
        assert key is not None, "no buy form on the confirmation"
        assert total is not None
        assert coupon is not None
        return {
            "csrf_token": self.csrf, "quantity": "1", "key": key.group(1),
            "total": total.group(1), "coupon": coupon.group(1),
        }  # fmt: skip

    def buy(self, product: Product, form: dict[str, str]) -> httpx.Response:
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
    sword: Product
    shield: Product
    clients: list[TestClient] = field(default_factory=list)

    def member(self, external_id: str = "alice") -> Member:
        secret = self.db.read(lambda conn: tenancy.link_secret(conn, self.service.id))
        ts = int(self.clock.now().timestamp())
        web = TestClient(self.desk.server, base_url=BASE, follow_redirects=False)
        web.headers["Accept-Language"] = "en"
        self.clients.append(web)
        entered = web.get(build_link(BASE, secret, self.service.id, external_id, ts))
        assert entered.status_code == 303, entered.text
        found = _CSRF.search(web.get("/cash").text)
        assert found is not None
        return Member(web, found.group(1))

    def policy(self, name: str, rule: dict[str, Any]) -> UUID:
        now = self.clock.now()

        def make(conn: Connection) -> UUID:
            made = POLICIES.create(
                conn, self.service.id, name=name, rule=rule, budget=None, actor="test", now=now
            )
            return POLICIES.activate(conn, self.service.id, made.id, now=now).id

        return self.db.write(make)

    def coupon(self, rule: dict[str, Any], *, valid: timedelta = timedelta(days=30)) -> str:
        """A new code of an active discount campaign, as members see it."""
        now = self.clock.now()

        def make(conn: Connection) -> str:
            made = campaigns.create_campaign(
                conn, self.service.id, name="Welcome coupon", kind="discount", code_mode="bulk",
                valid_from=now - timedelta(days=1), valid_until=now + valid, actor="test",
                now=now, discount_rule=rule,
            )  # fmt: skip
            campaign = campaigns.activate(conn, self.service.id, made.id, now=now)
            (code,) = campaigns.generate_codes(conn, campaign, 1, now)
            return codes.format_code(code.code)

        return self.db.write(make)

    def balance(self) -> tuple[int, int]:
        def read(conn: Connection) -> tuple[int, int]:
            member = tenancy.get_member(conn, self.service.id, "alice")
            found = queries.balance(conn, member.id, self.clock.now())
            return found.paid, found.bonus

        return self.db.read(read)

    def purchases(self) -> list[Purchase]:
        def read(conn: Connection) -> list[Purchase]:
            member = tenancy.get_member(conn, self.service.id, "alice")
            return records.member_purchases(conn, self.service.id, member.id, before=None, limit=9)

        return self.db.read(read)

    def counts(self) -> tuple[int, ...]:
        def read(conn: Connection) -> tuple[int, ...]:
            used = select(func.count()).select_from(coupon_codes)
            counted = [select(func.count()).select_from(t) for t in
                       (purchases, purchase_lines, journals, coupon_redemptions)]  # fmt: skip
            counted.append(used.where(coupon_codes.c.status == "redeemed"))
            return tuple(int(conn.execute(q).scalar_one()) for q in counted)

        return self.db.read(read)


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    desk = Desk(db, clock)
    service = desk.service("Acme")
    desk.member(service, "alice")

    def stock(conn: Connection) -> tuple[Product, Product]:
        now = clock.now()
        cp = providers.create_provider(conn, service.id, name="CP", now=now)
        made = []
        for sku, price in (("sword", PRICE), ("shield", 4_000)):
            spec = {
                "sku": sku, "kind": "item", "consumable": False, "cp_id": cp.id,
                "name_ko": sku, "name_en": sku.title(), "price": price,
                "cancel_window_seconds": 3600,
            }  # fmt: skip
            made.append(products.create_product(conn, service.id, spec, now=now, status="on_sale"))
        member = tenancy.get_member(conn, service.id, "alice")
        wallet = app.wallet_ref(service, member)
        for kind, amount in (("paid", 20_000), ("bonus", 1_000)):
            ledger.grant(conn, wallet, amount=amount, kind=kind, source="api", actor="test",
                         now=now)  # fmt: skip
        return made[0], made[1]

    sword, shield = db.write(stock)
    scene = Scene(db, clock, desk, service, sword, shield)
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


TEN_PERCENT = {"scope": {"kind": "catalog"}, "effect": {"kind": "percent_off", "value": 1000}}
TWO_THOUSAND_OFF = {"effect": {"kind": "amount_off", "value": 2_000}}


def test_the_confirmation_shows_the_breakdown_of_an_active_policy(scene: Scene) -> None:
    policy_id = scene.policy("Spring sale", TEN_PERCENT)
    page = scene.member().confirm(scene.sword)
    assert page.status_code == 200, page.text
    html = page.text
    assert text_of(html, "quote-list") == "₩10,000"
    assert f'data-rule="{policy_id}"' in html
    assert text_of(html, "quote-rule-name") == "Spring sale"
    assert text_of(html, "quote-rule-reason") == "10% off"
    assert text_of(html, "quote-rule-amount") == f"{MINUS}₩1,000"
    assert text_of(html, "confirm-price") == "₩9,000"
    assert text_of(html, "quote-discount") == "₩1,000"
    assert text_of(html, "quote-from-bonus") == "₩1,000"  # bonus first (the service's order)
    assert text_of(html, "quote-from-paid") == "₩8,000"
    assert text_of(html, "confirm-balance") == "₩21,000"
    assert text_of(html, "confirm-balance-after") == "₩12,000"
    assert 'name="total" value="9000"' in html
    assert 'data-testid="quote-coupon"' not in html


def test_without_a_policy_the_list_price_is_the_total(scene: Scene) -> None:
    html = scene.member().confirm(scene.sword).text
    assert text_of(html, "confirm-price") == "₩10,000"
    assert 'data-testid="quote-rule"' not in html
    assert 'data-testid="quote-discount"' not in html


def test_a_coupon_changes_the_total_and_the_buy_charges_exactly_that(scene: Scene) -> None:
    scene.policy("Spring sale", TEN_PERCENT)
    code = scene.coupon(TWO_THOUSAND_OFF)
    alice = scene.member()
    page = alice.confirm(scene.sword, code.lower())
    assert page.status_code == 200, page.text
    html = page.text
    assert text_of(html, "quote-coupon-name") == "Welcome coupon"
    assert text_of(html, "quote-coupon-amount") == f"{MINUS}₩2,000"
    assert text_of(html, "quote-rule-amount") == f"{MINUS}₩1,000"
    assert text_of(html, "confirm-price") == "₩7,000"
    assert text_of(html, "confirm-balance-after") == "₩14,000"
    assert 'data-testid="coupon-applied"' in html
    form = alice.buy_form(html)
    assert (form["total"], form["coupon"]) == ("7000", code.lower())
    bought = alice.buy(scene.sword, form)
    assert bought.status_code == 303, bought.text
    (made,) = scene.purchases()
    assert made.total == 7_000
    assert (made.lines[0].unit_price, made.lines[0].discount, made.lines[0].amount) == (
        10_000, 3_000, 7_000,
    )  # fmt: skip
    assert scene.balance() == (14_000, 0)  # 1,000 bonus then 6,000 paid
    result = alice.client.get(bought.headers["location"]).text
    assert text_of(result, "purchase-list-total") == "₩10,000"
    assert text_of(result, "purchase-discount") == f"{MINUS}₩3,000"
    assert text_of(result, "purchase-total") == "₩7,000"
    lines = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m)).strip()
        for m in re.findall(r'data-testid="purchase-discount-line">(.*?)</li>', result, re.S)
    ]
    assert lines == [
        f"Spring sale (10% off): {MINUS}₩1,000",
        f"Coupon Welcome coupon (₩2,000 off each): {MINUS}₩2,000",
    ]
    # The code is used: a second purchase with it is refused.
    again = alice.confirm(scene.sword, code)
    assert text_of(again.text, "coupon-error") == "This coupon has already been used."
    assert_invariants(scene.db)


def test_a_double_submit_with_a_coupon_buys_once(scene: Scene) -> None:
    code = scene.coupon(TWO_THOUSAND_OFF)
    alice = scene.member()
    form = alice.buy_form(alice.confirm(scene.sword, code).text)
    first, second = alice.buy(scene.sword, form), alice.buy(scene.sword, form)
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]
    assert len(scene.purchases()) == 1
    assert scene.counts()[3] == 1  # one redemption
    assert scene.balance() == (13_000, 0)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("unknown", "There is no coupon with this code. Check it for typing mistakes."),
        ("malformed", "This is not a coupon code. Check it for typing mistakes."),
        ("expired", "This coupon expired on 2026-03-01 09:10."),
        ("other_product", "This coupon does not apply to this purchase."),
    ],
)
def test_a_bad_coupon_shows_its_message_and_buys_nothing(
    scene: Scene, case: str, says: str
) -> None:
    scene.policy("Spring sale", TEN_PERCENT)
    alice = scene.member()
    if case == "unknown":
        code = UNKNOWN
    elif case == "malformed":
        code = "NOT-A-CODE-!"
    elif case == "expired":
        code = scene.coupon(TWO_THOUSAND_OFF, valid=timedelta(minutes=10))
        scene.clock.advance(timedelta(minutes=20))
    else:
        code = scene.coupon(
            {"scope": {"kind": "products", "ids": [str(scene.shield.id)]},
             "effect": {"kind": "amount_off", "value": 500}}
        )  # fmt: skip
    page = alice.confirm(scene.sword, code)
    assert page.status_code in (404, 409, 422), page.text
    assert text_of(page.text, "coupon-error").startswith(says)
    assert text_of(page.text, "confirm-price") == "₩9,000"  # the price without the coupon
    assert 'data-testid="quote-coupon"' not in page.text
    assert f'value="{code}"' in page.text  # the box keeps what was typed
    assert 'name="coupon" value=""' in page.text  # the buy form carries no coupon
    # A buy posted with the coupon anyway is refused and buys nothing.
    before = scene.counts()
    form = {**alice.buy_form(page.text), "coupon": code, "total": "7000"}
    refused = alice.buy(scene.sword, form)
    assert refused.status_code in (404, 409, 422), refused.text
    assert text_of(refused.text, "buy-error").startswith("The coupon could not be used")
    assert scene.counts() == before
    assert scene.balance() == (20_000, 1_000)


def test_guessing_codes_in_the_coupon_box_gets_429_even_for_a_right_code(scene: Scene) -> None:
    """The box counts against the member's attempt limit like the Coupons tab: after 10 wrong
    codes the 11th try is refused (429) though its code is right, and the page still offers
    the price without it."""
    scene.policy("Spring sale", TEN_PERCENT)
    code = scene.coupon(TWO_THOUSAND_OFF)
    alice = scene.member()
    for _ in range(10):
        assert alice.confirm(scene.sword, UNKNOWN).status_code == 404
    limited = alice.confirm(scene.sword, code)
    assert limited.status_code == 429, limited.text
    assert "Wait" in text_of(limited.text, "coupon-error")
    assert text_of(limited.text, "confirm-price") == "₩9,000"
    assert 'data-testid="quote-coupon"' not in limited.text
    scene.clock.advance(timedelta(minutes=11))
    assert text_of(alice.confirm(scene.sword, code).text, "confirm-price") == "₩7,000"


def test_a_coupon_that_expires_after_the_confirmation_buys_nothing(scene: Scene) -> None:
    code = scene.coupon(TWO_THOUSAND_OFF, valid=timedelta(minutes=10))
    alice = scene.member()
    form = alice.buy_form(alice.confirm(scene.sword, code).text)
    assert form["total"] == "8000"
    scene.clock.advance(timedelta(minutes=20))  # the session is still open
    before = scene.counts()
    refused = alice.buy(scene.sword, form)
    assert refused.status_code == 409
    assert text_of(refused.text, "buy-error") == (
        "The coupon could not be used: This coupon expired on 2026-03-01 09:10."
    )
    assert text_of(refused.text, "coupon-error") == "This coupon expired on 2026-03-01 09:10."
    assert text_of(refused.text, "confirm-price") == "₩10,000"
    assert scene.counts() == before
    assert scene.balance() == (20_000, 1_000)


def test_a_price_changed_since_the_confirmation_buys_nothing(scene: Scene) -> None:
    policy_id = scene.policy("Spring sale", TEN_PERCENT)
    alice = scene.member()
    form = alice.buy_form(alice.confirm(scene.sword).text)
    assert form["total"] == "9000"
    scene.db.write(lambda conn: POLICIES.end(conn, scene.service.id, policy_id,
                                             now=scene.clock.now()))  # fmt: skip
    before = scene.counts()
    refused = alice.buy(scene.sword, form)
    assert refused.status_code == 409
    assert text_of(refused.text, "buy-error") == (
        "The price has changed: it is now ₩10,000. Check it and buy again."
    )
    assert text_of(refused.text, "confirm-price") == "₩10,000"
    assert scene.counts() == before
    assert scene.balance() == (20_000, 1_000)


def test_korean_reasons(scene: Scene) -> None:
    scene.policy("봄 세일", TEN_PERCENT)
    alice = scene.member()
    alice.client.headers["Accept-Language"] = "ko"
    html = alice.confirm(scene.sword).text
    assert text_of(html, "quote-rule-reason") == "10% 할인"
