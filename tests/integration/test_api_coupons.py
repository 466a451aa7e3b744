"""The coupon endpoints over HTTP, on both databases: redeeming (with Idempotency-Key replays
and the 429 rate limit), the inquiry, a member's coupons and issuing a code to a member."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from coffer.coupons import campaigns, codes
from coffer.coupons.model import Campaign
from coffer.coupons.tables import coupon_attempts, coupon_codes
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.integration.test_api_support import Tenant, World, error_code, ok


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    tenant = world.tenant("Acme")
    tenant.member("alice")
    tenant.member("bob")
    return tenant


def _campaign(tenant: Tenant, world: World, **fields: Any) -> Campaign:
    now = world.clock.now()
    spec: dict[str, Any] = {
        "name": "Welcome", "kind": "cash", "code_mode": "bulk", "cash_amount": 2_000,
        "bonus_days": 30, "valid_from": now, "valid_until": now + timedelta(days=30), **fields,
    }  # fmt: skip

    def make(conn: Any) -> Campaign:
        made = campaigns.create_campaign(conn, tenant.service.id, actor="m", now=now, **spec)
        return campaigns.activate(conn, tenant.service.id, made.id, now=now)

    return tenant.db.write(make)


def _codes(tenant: Tenant, campaign: Campaign, count: int = 1) -> list[str]:
    now = campaign.created_at
    made = tenant.db.write(lambda c: campaigns.generate_codes(c, campaign, count, now))
    return [code.code for code in made]


def _attempts(tenant: Tenant) -> int:
    return int(
        tenant.db.read(
            lambda c: c.execute(select(func.count()).select_from(coupon_attempts)).scalar_one()
        )
    )


def test_redeem_a_cash_coupon(acme: Tenant, world: World) -> None:
    campaign = _campaign(acme, world)
    [code] = _codes(acme, campaign)
    shown = codes.format_code(code)
    response = acme.post("/members/alice/coupons", {"code": shown.lower()}, key="redeem-1")
    body = ok(response, 201)
    assert (body["code"], body["member"], body["status"]) == (shown, "alice", "active")
    assert body["campaign"]["id"] == str(campaign.id)
    assert (body["campaign"]["kind"], body["campaign"]["cash_amount"]) == ("cash", 2_000)
    assert (body["balance"]["bonus"], body["balance"]["available"]) == (2_000, 2_000)
    assert body["lot_id"] is not None
    assert body["entitlement_ids"] == []
    # The same key and body: the first answer again, nothing redeemed twice.
    again = acme.post("/members/alice/coupons", {"code": shown.lower()}, key="redeem-1")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert ok(again, 201) == body
    # A new key: the code is used.
    refused = acme.post("/members/alice/coupons", {"code": code})
    assert (refused.status_code, error_code(refused)) == (409, "coupon_already_redeemed")
    assert ok(acme.get("/members/alice/balance"), 200)["bonus"] == 2_000
    # The same key with another body is a conflict.
    other = acme.post("/members/alice/coupons", {"code": "OTHER"}, key="redeem-1")
    assert (other.status_code, error_code(other)) == (409, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "no!"}, 422, "invalid_coupon_code"),
        ({"code": ""}, 422, "invalid_coupon_code"),
        ({"code": 12}, 422, "invalid_coupon_code"),
        ({}, 422, "invalid_request"),
        ({"code": "NOSUCHCODE"}, 404, "coupon_not_found"),
    ],
)
def test_bad_codes(acme: Tenant, body: Any, status: int, code: str) -> None:
    before = acme.snapshot("alice")
    response = acme.post("/members/alice/coupons", body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert acme.snapshot("alice") == before


def test_unknown_member_and_idempotency_key_required(acme: Tenant) -> None:
    response = acme.post("/members/nobody/coupons", {"code": "WELCOME"})
    assert (response.status_code, error_code(response)) == (404, "member_not_found")
    response = acme.post("/members/alice/coupons", {"code": "WELCOME"}, key=None)
    assert (response.status_code, error_code(response)) == (400, "idempotency_key_required")
    assert _attempts(acme) == 0


def test_429_after_ten_failures(acme: Tenant, world: World) -> None:
    campaign = _campaign(acme, world)
    [good] = _codes(acme, campaign)
    for _ in range(10):
        wrong = acme.post("/members/alice/coupons", {"code": codes.generate()})
        assert error_code(wrong) == "coupon_not_found"
    assert _attempts(acme) == 10
    limited = acme.post("/members/alice/coupons", {"code": good})
    assert (limited.status_code, error_code(limited)) == (429, "too_many_coupon_attempts")
    assert limited.json()["error"]["details"] == {"retry_after_seconds": 601}
    assert limited.headers["Retry-After"] == "601"
    assert ok(acme.get("/members/alice/balance"), 200)["available"] == 0
    assert ok(acme.post("/members/bob/coupons", {"code": good}), 201)["member"] == "bob"
    world.clock.advance(timedelta(minutes=10))
    [another] = _codes(acme, campaign)
    assert ok(acme.post("/members/alice/coupons", {"code": another}), 201)["member"] == "alice"
    document = ok(world.client.get("/openapi.json"), 200)
    responses = document["paths"]["/api/v1/members/{external_id}/coupons"]["post"]["responses"]
    assert "429" in responses


def test_inquiry_member_coupons_and_issue(acme: Tenant, world: World) -> None:
    campaign = _campaign(acme, world)
    issued = ok(acme.post(f"/coupon-campaigns/{campaign.id}/issue", {"external_id": "alice"}), 201)
    assert (issued["member"], issued["status"]) == ("alice", "unredeemed")
    assert issued["campaign"]["id"] == str(campaign.id)
    code = issued["code"]
    assert codes.normalise(code) is not None
    seen = ok(acme.get(f"/coupons/{code}"), 200)
    assert (seen["kind"], seen["status"], seen["issued_to"], seen["redeemed_by"]) == (
        "bulk", "unredeemed", "alice", None,
    )  # fmt: skip
    refused = acme.post("/members/bob/coupons", {"code": code})
    assert (refused.status_code, error_code(refused)) == (409, "coupon_not_yours")
    redeemed = ok(acme.post("/members/alice/coupons", {"code": code}), 201)
    seen = ok(acme.get(f"/coupons/{code.replace('-', '').lower()}"), 200)
    assert (seen["status"], seen["redeemed_by"], seen["redemption_id"]) == (
        "redeemed", "alice", redeemed["id"],
    )  # fmt: skip
    assert seen["redeemed_at"] == "2026-03-01T00:00:00Z"
    mine = ok(acme.get("/members/alice/coupons"), 200)
    assert [item["code"] for item in mine["issued"]] == [code]
    assert [item["id"] for item in mine["redemptions"]] == [redeemed["id"]]
    assert ok(acme.get("/members/bob/coupons"), 200) == {"issued": [], "redemptions": []}
    for path, status, error in (
        ("/coupons/NOSUCHCODE", 404, "coupon_not_found"),
        ("/coupons/a!b", 422, "invalid_coupon_code"),
        ("/members/nobody/coupons", 404, "member_not_found"),
    ):
        response = acme.get(path)
        assert (response.status_code, error_code(response)) == (status, error)


def test_another_services_codes_and_campaigns_are_unknown(acme: Tenant, world: World) -> None:
    other = world.tenant("Other")
    other.member("alice")
    campaign = _campaign(acme, world)
    [code] = _codes(acme, campaign)
    response = other.post("/members/alice/coupons", {"code": code})
    assert (response.status_code, error_code(response)) == (404, "coupon_not_found")
    response = other.get(f"/coupons/{code}")
    assert (response.status_code, error_code(response)) == (404, "coupon_not_found")
    response = other.post(f"/coupon-campaigns/{campaign.id}/issue", {"external_id": "alice"})
    assert (response.status_code, error_code(response)) == (404, "campaign_not_found")
    response = acme.post("/coupon-campaigns/not-an-id/issue", {"external_id": "alice"})
    assert (response.status_code, error_code(response)) == (404, "campaign_not_found")
    count = acme.db.read(
        lambda c: c.execute(select(func.count()).select_from(coupon_codes)).scalar_one()
    )
    assert count == 1


def test_discount_and_public_codes(acme: Tenant, world: World) -> None:
    rule = {"effect": {"kind": "percent_off", "value": 500}}
    _campaign(acme, world, kind="discount", cash_amount=None, bonus_days=None,
              discount_rule=rule, code_mode="public", public_code="FIVEOFF")  # fmt: skip
    response = acme.post("/members/alice/coupons", {"code": "fiveoff"})
    assert (response.status_code, error_code(response)) == (409, "coupon_applies_at_checkout")
    assert _attempts(acme) == 0
    _campaign(acme, world, code_mode="public", public_code="HELLO-2026", redemption_limit=1)
    body = ok(acme.post("/members/alice/coupons", {"code": "hello 2026"}), 201)
    assert body["code"] == "HELLO2026"
    response = acme.post("/members/bob/coupons", {"code": "HELLO2026"})
    assert (response.status_code, error_code(response)) == (409, "coupon_limit_reached")
    seen = ok(acme.get("/coupons/HELLO2026"), 200)
    assert (seen["kind"], seen["redeemed_count"]) == ("public", 1)
    assert seen["campaign"]["redemption_limit"] == 1
