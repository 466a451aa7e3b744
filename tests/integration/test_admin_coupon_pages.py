"""The admin coupon pages on both databases: a marketer creates each kind of campaign,
activates it, generates and downloads codes, revokes them; a CS agent issues a code and
cancels a redemption; every write has its audit row; roles without the permission get 403."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coffer.audit.tables import audit_log
from coffer.coupons import campaigns, codes, redeeming
from coffer.coupons.model import Campaign
from coffer.coupons.tables import coupon_campaigns
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.admin_web import signed_in
from tests.integration.test_coupons import Coupons


def _form(token: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": token, **{k: str(v) for k, v in fields.items()}}


def _new(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Spring", "kind": "cash", "code_mode": "bulk", "valid_from": "2026-03-01",
        "valid_until": "2026-03-31", "per_member_limit": "1", "cash_amount": "5000",
        **fields,
    }  # fmt: skip


def _actions(db: Database) -> list[str]:
    query = (
        select(audit_log.c.action)
        .where(audit_log.c.action.like("coupons.%"))
        .order_by(audit_log.c.seq)
    )
    return list(db.read(lambda c: c.execute(query).scalars()))


def _campaigns(db: Database, shop: Coupons) -> list[Campaign]:
    return db.read(lambda c: campaigns.list_campaigns(c, shop.service.id))


@pytest.fixture
def shop(db: Database, clock: ManualClock) -> Coupons:
    return Coupons(db, clock)


def _marketer(db: Database, clock: ManualClock) -> tuple[TestClient, str]:
    return signed_in(db, clock, "marketer")


def test_a_marketer_runs_a_cash_campaign(db: Database, clock: ManualClock, shop: Coupons) -> None:
    web, token = _marketer(db, clock)
    sid = shop.service.id
    home = web.get("/admin/coupons")
    assert (home.status_code, home.headers["location"]) == (303, f"/admin/coupons/{sid}")
    page = web.get(f"/admin/coupons/{sid}")
    assert page.status_code == 200
    assert 'data-testid="no-campaigns"' in page.text
    created = web.post(f"/admin/coupons/{sid}/campaigns",
                       data=_form(token, **_new(bonus_days="30")))  # fmt: skip
    assert created.status_code == 303, created.text
    [campaign] = _campaigns(db, shop)
    assert created.headers["location"] == f"/admin/coupons/{sid}/campaigns/{campaign.id}"
    assert (campaign.status, campaign.cash_amount, campaign.bonus_days) == ("draft", 5_000, 30)
    assert campaign.valid_from.isoformat() == "2026-02-28T15:00:00+00:00"  # Asia/Seoul midnight
    assert campaign.valid_until.isoformat() == "2026-03-31T15:00:00+00:00"
    url = f"/admin/coupons/{sid}/campaigns/{campaign.id}"
    assert web.post(f"{url}/status", data=_form(token, action="activate")).status_code == 303
    assert web.post(f"{url}/generate", data=_form(token, count=5)).status_code == 303
    page = web.get(url)
    assert "5 unredeemed, 0 redeemed, 0 revoked" in page.text
    csv = web.get(f"{url}/codes.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("code,status")
    first = lines[1].split(",")[0]
    assert codes.normalise(first) is not None
    # The inquiry finds a code as typed.
    found = web.get(f"/admin/coupons/{sid}", params={"code": first.lower()})
    assert 'data-testid="inquiry-result"' in found.text
    missing = web.get(f"/admin/coupons/{sid}", params={"code": "NOPE-NOPE"})
    assert 'data-testid="inquiry-error"' in missing.text
    assert web.post(f"{url}/revoke", data=_form(token)).status_code == 303
    assert "0 unredeemed, 0 redeemed, 5 revoked" in web.get(url).text
    assert web.post(f"{url}/status", data=_form(token, action="end")).status_code == 303
    assert _campaigns(db, shop)[0].status == "ended"
    assert _actions(db) == [
        "coupons.campaign_create", "coupons.campaign_activate", "coupons.codes_generate",
        "coupons.codes_export", "coupons.codes_revoke", "coupons.campaign_end",
    ]  # fmt: skip


def test_discount_and_product_campaigns_from_the_form(
    db: Database, clock: ManualClock, shop: Coupons
) -> None:
    web, token = _marketer(db, clock)
    sid = shop.service.id
    sword = shop.product("SWORD")
    shop.product("SHIELD")
    discount = _new(
        kind="discount", cash_amount="", effect="percent_off", percent="15", scope="products",
        scope_skus="SWORD, SHIELD", min_amount="2000", code_mode="public",
        public_code="spring-15", redemption_limit="100",
    )  # fmt: skip
    create = f"/admin/coupons/{sid}/campaigns"
    assert web.post(create, data=_form(token, **discount)).status_code == 303
    product = _new(name="Free sword", kind="product", cash_amount="", product_sku="SWORD",
                   product_quantity="2")  # fmt: skip
    assert web.post(create, data=_form(token, **product)).status_code == 303
    made, sale = _campaigns(db, shop)
    assert (made.product_id, made.product_quantity) == (sword.id, 2)
    assert sale.public_code == "SPRING15"
    assert sale.redemption_limit == 100
    rule = sale.discount_rule
    assert rule is not None
    assert (rule.effect.kind, rule.effect.value, rule.scope.kind) == (
        "percent_off",
        1500,
        "products",
    )
    assert len(rule.scope.ids) == 2
    assert rule.conditions.min_amount == 2_000
    page = web.get(f"/admin/coupons/{sid}/campaigns/{sale.id}")
    assert page.status_code == 200
    assert "SPRING15" in page.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"cash_amount": "12.5"}, "cash_amount"),
        ({"valid_until": "2026-02-01"}, "valid_until"),
        ({"valid_from": "tomorrow"}, "valid_from"),
        ({"code_mode": "public", "public_code": "AB"}, "public_code"),
        ({"kind": "product", "product_sku": "NOPE"}, "product_sku"),
        ({"kind": "discount", "effect": "percent_off", "percent": "150"}, "percent"),
        ({"kind": "discount", "effect": "percent_off", "percent": "10", "scope": "products",
          "scope_skus": "NOPE"}, "scope_skus"),
        ({"per_member_limit": "0"}, "per_member_limit"),
    ],
)  # fmt: skip
def test_bad_campaign_forms_show_the_field(
    db: Database, clock: ManualClock, shop: Coupons, fields: dict[str, str], field: str
) -> None:
    web, token = _marketer(db, clock)
    response = web.post(f"/admin/coupons/{shop.service.id}/campaigns",
                        data=_form(token, **_new(**fields)))  # fmt: skip
    assert response.status_code == 422, response.text
    assert f'data-testid="create-error-{field}"' in response.text
    assert db.read(lambda c: c.execute(select(coupon_campaigns.c.id)).all()) == []
    assert _actions(db) == []


def test_a_cs_agent_issues_and_cancels(db: Database, clock: ManualClock, shop: Coupons) -> None:
    campaign = shop.campaign(cash_amount=700)
    alice = shop.member("alice")
    web, token = signed_in(db, clock, "cs")
    sid = shop.service.id
    url = f"/admin/coupons/{sid}/campaigns/{campaign.id}"
    issued = web.post(f"{url}/issue", data=_form(token, external_id="alice"))
    assert issued.status_code == 303, issued.text
    nobody = web.post(f"{url}/issue", data=_form(token, external_id="nobody"))
    assert nobody.status_code == 404
    assert 'data-testid="issue-error-external_id"' in nobody.text
    [mine] = db.read(lambda c: redeeming.member_coupons(c, alice.member)).issued
    redemption = shop.redeem(alice, mine.code.code)
    assert shop.balance(alice) == 700
    page = web.get(url)
    assert f'data-testid="cancel-{redemption.id}"' in page.text
    no_reason = web.post(f"/admin/coupons/{sid}/redemptions/{redemption.id}/cancel",
                         data=_form(token, campaign_id=campaign.id, reason=" "))  # fmt: skip
    assert no_reason.status_code == 422
    cancel = f"/admin/coupons/{sid}/redemptions/{redemption.id}/cancel"
    cancelled = web.post(cancel, data=_form(token, campaign_id=campaign.id, reason="by mistake"))
    assert cancelled.status_code == 303, cancelled.text
    assert shop.balance(alice) == 0
    again = web.post(f"/admin/coupons/{sid}/redemptions/{redemption.id}/cancel",
                     data=_form(token, campaign_id=campaign.id, reason="again"))  # fmt: skip
    assert again.status_code == 409
    assert "This redemption is already cancelled." in again.text
    assert _actions(db) == ["coupons.code_issue", "coupons.redemption_cancel"]
    # A CS agent may not manage campaigns.
    refused = web.post(f"{url}/generate", data=_form(token, count=1))
    assert refused.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "accountant"])
def test_read_only_roles_may_look_but_not_change(
    db: Database, clock: ManualClock, shop: Coupons, role: str
) -> None:
    campaign = shop.campaign()
    shop.member("alice")
    web, token = signed_in(db, clock, role)
    sid = shop.service.id
    url = f"/admin/coupons/{sid}/campaigns/{campaign.id}"
    assert web.get(f"/admin/coupons/{sid}").status_code == 200
    page = web.get(url)
    assert page.status_code == 200
    assert 'data-testid="generate-form"' not in page.text
    assert 'data-testid="issue-form"' not in page.text
    for path, data in (
        (f"/admin/coupons/{sid}/campaigns", _new()),
        (f"{url}/status", {"action": "end"}),
        (f"{url}/generate", {"count": "1"}),
        (f"{url}/revoke", {}),
        (f"{url}/issue", {"external_id": "alice"}),
    ):
        assert web.post(path, data=_form(token, **data)).status_code == 403, path
    assert web.get(f"{url}/codes.csv").status_code == 403
    assert _actions(db) == []


def test_unknown_services_and_campaigns(db: Database, clock: ManualClock, shop: Coupons) -> None:
    web, _token = _marketer(db, clock)
    other = Coupons(db, clock, name="Other")
    theirs = other.campaign()
    for path in (
        "/admin/coupons/not-a-service",
        f"/admin/coupons/{shop.service.id}/campaigns/{theirs.id}",
        f"/admin/coupons/{shop.service.id}/campaigns/nope",
        f"/admin/coupons/{shop.service.id}/campaigns/{theirs.id}/codes.csv",
    ):
        assert web.get(path).status_code == 404, path
