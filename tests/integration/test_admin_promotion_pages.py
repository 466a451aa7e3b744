"""The admin promotions pages: policies and events created, edited, simulated, activated and
ended through the forms; audit rows; permissions; bad input that saves nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog import categories, products, providers
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import service as ledger
from coffer.pricing.tables import bonus_events, discount_policies
from coffer.pricing.versioned import EVENTS, POLICIES
from coffer.purchases import buying
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows


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

    def stock(conn: Connection) -> None:
        now = desk.clock.now()
        cp = providers.create_provider(conn, service.id, name="CP", now=now)
        menu = categories.create_category(
            conn, service.id, name_ko="무기", name_en="Weapons", parent_id=None, now=now
        )
        for sku, price in (("SWORD", 10_000), ("POTION", 1_500)):
            made = products.create_product(
                conn, service.id,
                {"sku": sku, "kind": "item", "cp_id": cp.id, "name_ko": sku, "name_en": sku,
                 "consumable": True, "price": price},
                now=now, status="on_sale",
            )  # fmt: skip
            if sku == "SWORD":
                categories.place_product(conn, service.id, made.id, menu.id)

    desk.db.write(stock)
    return service


def _admin(desk: Desk, role: str) -> Admin:
    admin = desk.admin(role)
    admin.client.headers["Accept-Language"] = "en"
    return admin


@pytest.fixture
def marketer(desk: Desk) -> Admin:
    return _admin(desk, "marketer")


def _base(service: Service) -> str:
    return f"/admin/promotions/{service.id}"


def _count(db: Database, table: Any) -> int:
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


POLICY_FORM = {
    "name": "Spring sale",
    "budget": "50000",
    "scope_kind": "products",
    "scope_skus": "SWORD, POTION",
    "grades": "gold, silver",
    "starts_at": "2026-01-01T09:00",
    "ends_at": "",
    "min_amount": "3000",
    "min_quantity": "1",
    "effect_kind": "percent_off",
    "effect_percent": "12.5",
    "priority": "10",
    "stacking": "exclusive",
    "uses_per_member": "2",
}


def _rule_id(location: str) -> str:
    found = re.search(r"/(policies|events)/([0-9a-f-]{36})$", location)
    assert found, location
    return found.group(2)


def test_a_marketer_creates_a_policy_from_the_form(
    db: Database, desk: Desk, service: Service, marketer: Admin
) -> None:
    assert marketer.get(f"{_base(service)}/policies/new").status_code == 200
    created = marketer.post(f"{_base(service)}/policies", POLICY_FORM)
    assert created.status_code == 303, created.text
    rule_id = _rule_id(created.headers["location"])
    (policy,) = db.read(lambda c: POLICIES.listing(c, service.id))
    assert str(policy.id) == rule_id
    assert (policy.name, policy.status, policy.version, policy.budget) == (
        "Spring sale", "draft", 1, 50_000,
    )  # fmt: skip
    rule = policy.rule.as_json()
    assert rule["effect"] == {"kind": "percent_off", "value": 1_250}
    assert rule["scope"]["kind"] == "products"
    assert len(rule["scope"]["ids"]) == 2
    assert rule["conditions"] == {
        "grades": ["gold", "silver"], "starts_at": "2026-01-01T00:00:00+00:00", "ends_at": None,
        "first_purchase": False, "min_amount": 3_000, "min_quantity": 1,
    }  # fmt: skip
    assert (rule["priority"], rule["uses_per_member"]) == (10, 2)
    (row,) = audit_rows(db, "promotions.policy_create")
    assert row["target_id"] == rule_id
    assert row["actor"] == "admin:marketer@example.com"

    page = marketer.get(created.headers["location"])
    assert page.status_code == 200
    text = page.text
    assert "12.5% off on the products POTION, SWORD" in text
    assert "for the grades gold, silver" in text
    assert "at most 2 purchases per member" in text
    # The edit form shows the saved values back, as typed.
    assert 'name="effect_percent" type="text" value="12.5"' in text
    assert 'value="POTION, SWORD"' in text
    assert 'value="2026-01-01T09:00"' in text

    overview = marketer.get(_base(service))
    assert overview.status_code == 200
    assert f'data-testid="rule-{rule_id}"' in overview.text
    assert "₩0 / ₩50,000" in overview.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"effect_percent": "12.345"}, "effect_percent"),
        ({"effect_percent": "0"}, "effect_percent"),
        ({"effect_percent": "101"}, "effect_percent"),
        ({"effect_percent": "1e1"}, "effect_percent"),
        ({"scope_skus": "SWORD, NOPE"}, "scope_skus"),
        ({"scope_skus": ""}, "scope_skus"),
        ({"ends_at": "2025-12-31T09:00"}, "ends_at"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"effect_kind": "fixed_price", "effect_amount": "-100"}, "effect_amount"),
        ({"effect_kind": "amount_off", "effect_amount": "0"}, "effect_amount"),
        ({"effect_kind": "buy_n_get_m", "effect_buy": "2", "effect_get": ""}, "effect_get"),
        ({"effect_kind": "half_off"}, "effect_kind"),
        ({"budget": "12.5"}, "budget"),
        ({"min_quantity": "0"}, "min_quantity"),
        ({"priority": "1001"}, "priority"),
        ({"stacking": "both"}, "stacking"),
        ({"uses_per_member": "0"}, "uses_per_member"),
        ({"name": "  "}, "name"),
        ({"scope_kind": "categories"}, "scope_menus"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else value,
)
def test_bad_policy_input_is_shown_at_its_field_and_saves_nothing(
    db: Database, service: Service, marketer: Admin, changes: dict[str, str], field: str
) -> None:
    audits = audit_count(db)
    refused = marketer.post(f"{_base(service)}/policies", POLICY_FORM | changes)
    assert refused.status_code == 422, refused.text
    assert f'data-testid="error-{field}"' in refused.text
    assert _count(db, discount_policies) == 0
    assert audit_count(db) == audits
    # What was typed is shown again.
    assert 'value="Spring sale"' in refused.text or changes.get("name") == "  "


def test_an_event_with_tiers_and_methods(db: Database, service: Service, marketer: Admin) -> None:
    form = {
        "name": "Charge more, get more", "budget": "",
        # Row 0 left empty: rows are read where they are typed.
        "tier_min_1": "10000", "tier_percent_1": "10", "tier_fixed_1": "",
        "tier_min_2": "50000", "tier_percent_2": "12.5", "tier_fixed_2": "1000",
        "methods": ["card", "transfer"], "grades": "", "first_charge": "on",
        "per_member_limit": "3", "bonus_days": "30", "priority": "0", "stacking": "stackable",
    }  # fmt: skip
    bad = marketer.post(
        f"{_base(service)}/events", form | {"tier_percent_2": "", "tier_fixed_2": ""}
    )
    assert bad.status_code == 422
    assert 'data-testid="error-tier_percent_2"' in bad.text
    assert 'value="transfer" checked' in bad.text
    assert _count(db, bonus_events) == 0
    same = marketer.post(f"{_base(service)}/events", form | {"tier_min_2": "10000"})
    assert same.status_code == 422
    assert 'data-testid="error-tiers"' in same.text

    created = marketer.post(f"{_base(service)}/events", form)
    assert created.status_code == 303, created.text
    (event,) = db.read(lambda c: EVENTS.listing(c, service.id))
    assert event.rule.as_json() == {
        "tiers": [{"min_amount": 10_000, "percent_bp": 1_000, "fixed": 0},
                  {"min_amount": 50_000, "percent_bp": 1_250, "fixed": 1_000}],
        "methods": ["card", "transfer"], "grades": [], "first_charge": True, "starts_at": None,
        "ends_at": None, "per_member_limit": 3, "bonus_days": 30, "priority": 0,
        "stacking": "stackable",
    }  # fmt: skip
    page = marketer.get(created.headers["location"]).text
    assert "charging ₩10,000 or more: 10% bonus" in page
    assert "charging ₩50,000 or more: 12.5% bonus + ₩1,000 bonus" in page
    assert "paid by Card, Real-time bank transfer" in page
    assert "first charge only" in page
    assert "the bonus expires 30 days after the charge" in page
    assert 'name="tier_percent_1" value="12.5"' in page  # saved tiers come back from row 0


def test_edit_versions_activate_and_end(
    db: Database, desk: Desk, service: Service, marketer: Admin
) -> None:
    created = marketer.post(f"{_base(service)}/policies", POLICY_FORM)
    url = created.headers["location"]
    rule_id = _rule_id(url)
    same = marketer.post(url, POLICY_FORM)
    assert same.status_code == 303
    assert audit_count(db, "promotions.policy_revise") == 0
    renamed = marketer.post(url, POLICY_FORM | {"name": "Spring sale II", "budget": "60000"})
    assert renamed.status_code == 303
    assert db.read(lambda c: POLICIES.get(c, service.id, UUID(rule_id))).version == 1
    changed = marketer.post(url, POLICY_FORM | {"effect_percent": "15"})
    assert changed.status_code == 303
    policy = db.read(lambda c: POLICIES.get(c, service.id, UUID(rule_id)))
    assert (policy.name, policy.version, policy.budget) == ("Spring sale", 2, 50_000)
    assert audit_count(db, "promotions.policy_revise") == 2
    page = marketer.get(url).text
    assert 'data-testid="version-1"' in page
    assert 'data-testid="version-2"' in page
    assert "15% off" in page
    assert "12.5% off" in page

    assert marketer.post(f"{url}/activate").status_code == 303
    again = marketer.post(f"{url}/activate")
    assert again.status_code == 409
    assert "Only a draft can be activated." in again.text
    assert db.read(lambda c: POLICIES.get(c, service.id, UUID(rule_id))).status == "active"
    assert marketer.post(f"{url}/end").status_code == 303
    assert db.read(lambda c: POLICIES.get(c, service.id, UUID(rule_id))).status == "ended"
    ended = marketer.post(url, POLICY_FORM)
    assert ended.status_code == 409
    assert [r["after"]["status"] for r in audit_rows(db, "promotions.policy_activate")] == [
        "active"
    ]
    assert len(audit_rows(db, "promotions.policy_end")) == 1
    assert 'data-testid="rule-form"' not in marketer.get(url).text


def test_simulating_a_policy_and_an_event(db: Database, desk: Desk, service: Service) -> None:
    clock = desk.clock
    start = clock.now()
    ann = desk.member(service, "ann", grade="gold")

    def fund_and_buy(conn: Connection) -> None:
        wallet = app.wallet_ref(service, ann)
        ledger.grant(
            conn, wallet, amount=100_000, kind="paid", source="charge", actor="test", now=start
        )
        buying.purchase(
            conn, service, (ann, wallet), [("sku:SWORD", 2)], gift_to=None, actor="test",
            now=start,
        )  # fmt: skip

    db.write(fund_and_buy)
    clock.advance(timedelta(days=2))
    marketer = _admin(desk, "marketer")  # signed in now: a session ends when idle
    created = marketer.post(f"{_base(service)}/policies", POLICY_FORM)
    assert created.status_code == 303, re.findall(r'data-testid="error-[^<]*<', created.text)
    url = created.headers["location"]
    fragment = marketer.post(f"{url}/simulate", {"days": "30"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    # 2 swords, 20,000 at list: 12.5% off is 2,500 for a gold member.
    assert 'data-testid="sim-purchases">1<' in fragment.text
    assert 'data-testid="sim-discount">₩2,500<' in fragment.text
    assert 'data-testid="sim-after">₩17,500<' in fragment.text
    assert 'data-member="ann"' in fragment.text
    bad = marketer.post(f"{url}/simulate", {"days": "400"}, headers={"HX-Request": "true"})
    assert bad.status_code == 200
    assert 'data-testid="simulation-error"' in bad.text
    full = marketer.post(f"{url}/simulate", {"days": "1"})
    assert full.status_code == 200
    assert 'data-testid="sim-purchases">0<' in full.text

    event = marketer.post(
        f"{_base(service)}/events",
        {"name": "Ten", "tier_min_0": "0", "tier_percent_0": "10", "stacking": "stackable"},
    )
    result = marketer.post(
        f"{event.headers['location']}/simulate", {"days": "30"}, headers={"HX-Request": "true"}
    )
    # Ann's 100,000 came in as charge cash, but no charge order: nothing to replay.
    assert 'data-testid="sim-charges">0<' in result.text


def test_permissions(db: Database, desk: Desk, service: Service, marketer: Admin) -> None:
    created = marketer.post(f"{_base(service)}/policies", POLICY_FORM)
    url = created.headers["location"]
    viewer = _admin(desk, "viewer")
    assert viewer.get("/admin/promotions").status_code == 303
    assert viewer.get(_base(service)).status_code == 200
    page = viewer.get(url)
    assert page.status_code == 200
    assert 'data-testid="rule-activate"' not in page.text
    assert 'data-testid="simulate-form"' not in page.text
    for path in (f"{_base(service)}/policies/new",):
        assert viewer.get(path).status_code == 403
    for path in (f"{_base(service)}/policies", url, f"{url}/activate", f"{url}/end",
                 f"{url}/simulate"):  # fmt: skip
        assert viewer.post(path, POLICY_FORM | {"days": "30"}).status_code == 403
    assert db.read(lambda c: POLICIES.listing(c, service.id))[0].status == "draft"
    assert marketer.get(f"{_base(service)}/coupons/new").status_code == 404
    assert marketer.get(f"{_base(service)}/policies/not-an-id").status_code == 404
    other = desk.service("Other")
    assert marketer.get(f"/admin/promotions/{other.id}/policies/{_rule_id(url)}").status_code == 404
