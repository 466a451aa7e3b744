"""Every /api/v1 endpoint's happy path, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.integration.test_api_support import Tenant, World, error_code, ok


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    return world.tenant("Acme")


def test_members_create_read_and_update(acme: Tenant) -> None:
    created = acme.member("alice", grade="gold")
    assert created["external_id"] == "alice"
    assert created["grade"] == "gold"
    assert created["status"] == "active"
    assert created["created_at"] == "2026-03-01T00:00:00Z"
    assert ok(acme.get("/members/alice"), 200) == created
    assert acme.member("bob")["grade"] == "basic"

    duplicate = acme.post("/members", {"external_id": "alice"}, key=None)
    assert duplicate.status_code == 409
    assert error_code(duplicate) == "member_exists"

    assert ok(acme.patch("/members/alice", {"grade": "vip"}), 200)["grade"] == "vip"
    assert ok(acme.patch("/members/alice", {"status": "suspended"}), 200)["status"] == "suspended"
    assert ok(acme.patch("/members/alice", {"status": "active"}), 200)["status"] == "active"
    assert ok(acme.patch("/members/alice", {}), 200)["status"] == "active"
    assert ok(acme.patch("/members/alice", {"status": "closed"}), 200)["status"] == "closed"
    reopen = acme.patch("/members/alice", {"status": "active"})
    assert reopen.status_code == 409
    assert error_code(reopen) == "member_closed"


def test_grant_paid_and_expiring_bonus(acme: Tenant) -> None:
    acme.member("alice")
    paid = acme.grant("alice", 1000, "paid")
    assert paid["amount"] == 1000
    assert paid["cash_kind"] == "paid"
    assert paid["balance"]["paid"] == 1000

    bonus = acme.grant(
        "alice", 300, "bonus", expires_at="2026-03-11T09:00:00+09:00", source="event"
    )
    assert bonus["balance"] == {
        "currency": "KRW",
        "available": 1300,
        "held": 0,
        "paid": 1000,
        "bonus": 300,
        "expiring_soon": 300,
        "total": 1300,
    }
    lots = ok(acme.get("/members/alice/lots"), 200)["data"]
    by_id = {lot["id"]: lot for lot in lots}
    assert by_id[bonus["lot_id"]]["expires_at"] == "2026-03-11T00:00:00Z"
    assert by_id[bonus["lot_id"]]["source"] == "event"
    assert by_id[bonus["lot_id"]]["refundable"] is False
    assert by_id[paid["lot_id"]]["status"] == "open"
    assert by_id[paid["lot_id"]]["reason"] == "test"


def test_spend_draws_bonus_first_and_reverse_restores(acme: Tenant) -> None:
    acme.member("alice")
    paid = acme.grant("alice", 1000, "paid")
    bonus = acme.grant("alice", 300, "bonus")
    spent = acme.spend("alice", 500, reference="order-9")
    assert spent["amount"] == 500
    assert spent["draws"] == [
        {"lot_id": bonus["lot_id"], "cash_kind": "bonus", "amount": 300},
        {"lot_id": paid["lot_id"], "cash_kind": "paid", "amount": 200},
    ]
    assert spent["balance"]["available"] == 800

    reversed_ = ok(acme.post(f"/spends/{spent['id']}/reverse", {"reason": "refund"}), 201)
    assert reversed_["reverses"] == spent["id"]
    assert reversed_["amount"] == 500
    assert reversed_["balance"]["paid"] == 1000
    assert reversed_["balance"]["bonus"] == 300

    empty_lot = acme.spend("alice", 300)["draws"][0]["lot_id"]
    assert empty_lot == bonus["lot_id"]
    open_lots = ok(acme.get("/members/alice/lots"), 200)["data"]
    assert [lot["id"] for lot in open_lots] == [paid["lot_id"]]
    all_lots = ok(acme.get("/members/alice/lots", include_empty="true"), 200)["data"]
    assert {lot["id"]: lot["status"] for lot in all_lots}[bonus["lot_id"]] == "used"


def test_hold_reserve_get_commit_release_and_list(acme: Tenant) -> None:
    acme.member("alice")
    acme.grant("alice", 1000)
    hold = acme.hold("alice", 400, seconds=60)
    assert hold["amount"] == 400
    assert hold["committed"] == 0
    assert hold["status"] == "active"
    assert hold["expires_at"] == "2026-03-01T00:01:00Z"
    assert hold["created_at"] == "2026-03-01T00:00:00Z"
    assert ok(acme.get(f"/holds/{hold['id']}"), 200) == hold
    balance = ok(acme.get("/members/alice/balance"), 200)
    assert (balance["available"], balance["held"], balance["total"]) == (600, 400, 1000)

    committed = ok(acme.post(f"/holds/{hold['id']}/commit", {"amount": 150}), 200)
    assert (committed["status"], committed["committed"]) == ("committed", 150)
    assert ok(acme.get("/members/alice/balance"), 200)["available"] == 850

    second = ok(
        acme.post(
            "/members/alice/holds", {"amount": 100, "expires_in_seconds": 60, "reference": "x"}
        ),
        201,
    )
    assert second["reference"] == "x"
    full = ok(acme.post(f"/holds/{second['id']}/commit", {}), 200)
    assert full["committed"] == 100

    third = acme.hold("alice", 50)
    released = ok(acme.post(f"/holds/{third['id']}/release"), 200)
    assert released["status"] == "released"
    assert released["closed_at"] == "2026-03-01T00:00:00Z"
    fourth = acme.hold("alice", 70)
    assert ok(acme.post(f"/holds/{fourth['id']}/release", {}), 200)["status"] == "released"

    active = ok(acme.get("/members/alice/holds"), 200)["data"]
    assert active == []
    everything = ok(acme.get("/members/alice/holds", status="all"), 200)["data"]
    assert [h["id"] for h in everything] == [hold["id"], second["id"], third["id"], fourth["id"]]
    acme.hold("alice", 10)
    assert len(ok(acme.get("/members/alice/holds", status="active"), 200)["data"]) == 1
    assert ok(acme.get("/members/alice/balance"), 200)["available"] == 1000 - 250 - 10


def test_history_filters_and_pages(acme: Tenant, world: World) -> None:
    acme.member("alice")
    acme.grant("alice", 1000)
    acme.spend("alice", 100, reference="a")
    world.clock.advance(timedelta(days=2))
    acme.spend("alice", 200, reference="b")
    acme.spend("alice", 300, reference="c")

    everything = ok(acme.get("/members/alice/history"), 200)
    assert [e["kind"] for e in everything["data"]] == ["spend", "spend", "spend", "grant"]
    assert everything["next_cursor"] is None
    newest = everything["data"][0]
    assert newest["reference"] == "c"
    assert newest["paid_change"] == -300
    assert newest["actor"] == f"api:{acme.key_prefix}"
    assert newest["business_date"] == "2026-03-03"

    grants = ok(
        acme.client.get(
            "/api/v1/members/alice/history?kind=grant&kind=spend_reversal", headers=acme.auth
        ),
        200,
    )
    assert [e["kind"] for e in grants["data"]] == ["grant"]

    first = ok(acme.get("/members/alice/history", kind="spend", limit=2), 200)
    assert [e["reference"] for e in first["data"]] == ["c", "b"]
    rest = ok(acme.get("/members/alice/history", kind="spend", cursor=first["next_cursor"]), 200)
    assert [e["reference"] for e in rest["data"]] == ["a"]
    assert rest["next_cursor"] is None

    dated = ok(
        acme.get("/members/alice/history", **{"from": "2026-03-02", "to": "2026-03-03"}), 200
    )
    assert [e["reference"] for e in dated["data"]] == ["c", "b"]


def test_journal_detail_with_postings_and_draws(acme: Tenant) -> None:
    acme.member("alice")
    grant = acme.grant("alice", 1000)
    spent = acme.spend("alice", 400)
    reversal = ok(acme.post(f"/spends/{spent['id']}/reverse", {}), 201)

    journal = ok(acme.get(f"/journals/{spent['id']}"), 200)
    assert journal["kind"] == "spend"
    assert journal["external_id"] == "alice"
    assert journal["actor"] == f"api:{acme.key_prefix}"
    assert journal["reversed_by"] == reversal["id"]
    assert sorted((p["account"], p["amount"]) for p in journal["postings"]) == [
        ("cash:paid", -400),
        ("sales_revenue", 400),
    ]
    assert journal["draws"] == [{"lot_id": grant["lot_id"], "cash_kind": "paid", "amount": 400}]

    restored = ok(acme.get(f"/journals/{reversal['id']}"), 200)
    assert restored["reverses_id"] == spent["id"]
    assert restored["draws"][0]["amount"] == -400


def test_webhook_endpoint_put_get_delete(acme: Tenant) -> None:
    assert ok(acme.get("/webhook-endpoint"), 200) == {"url": None, "secret_set": False}
    created = ok(acme.put("/webhook-endpoint", {"url": "https://example.com/hooks"}), 200)
    assert created["url"] == "https://example.com/hooks"
    assert created["secret"].startswith("whsec_")
    shown = ok(acme.get("/webhook-endpoint"), 200)
    assert shown == {"url": "https://example.com/hooks", "secret_set": True}
    assert "whsec_" not in acme.get("/webhook-endpoint").text

    rotated = ok(acme.put("/webhook-endpoint", {"url": "https://example.com/v2"}), 200)
    assert rotated["secret"] != created["secret"]

    deleted = acme.delete("/webhook-endpoint")
    assert deleted.status_code == 204
    assert ok(acme.get("/webhook-endpoint"), 200) == {"url": None, "secret_set": False}

    bad = acme.put("/webhook-endpoint", {"url": "ftp://example.com"})
    assert bad.status_code == 422
    assert error_code(bad) == "invalid_url"


def test_health_probes_and_openapi(world: World) -> None:
    assert ok(world.client.get("/healthz"), 200) == {"status": "ok"}
    assert ok(world.client.get("/readyz"), 200) == {"status": "ready"}
    assert world.client.get("/docs").status_code == 200

    document = ok(world.client.get("/openapi.json"), 200)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Coffer"
    amount = document["components"]["schemas"]["SpendCreate"]["properties"]["amount"]
    assert amount == {"type": "integer", "minimum": 1, "maximum": 2**53, "title": "Amount"}
    grant = document["components"]["schemas"]["GrantCreate"]
    assert grant["additionalProperties"] is False
    spends = document["paths"]["/api/v1/members/{external_id}/spends"]["post"]
    headers = {p["name"] for p in spends["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in headers
    assert spends["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }


def test_a_member_with_active_holds_cannot_be_closed(acme: Tenant) -> None:
    acme.member("alice")
    acme.grant("alice", 1000)
    hold = acme.hold("alice", 400)
    refused = acme.patch("/members/alice", {"status": "closed"})
    assert refused.status_code == 409
    assert error_code(refused) == "member_has_active_holds"
    assert ok(acme.get("/members/alice"), 200)["status"] == "active"
    ok(acme.post(f"/holds/{hold['id']}/release", {}), 200)
    assert ok(acme.patch("/members/alice", {"status": "closed"}), 200)["status"] == "closed"


def test_external_ids_that_cannot_appear_in_a_path_are_refused(acme: Tenant) -> None:
    for bad in ["team/alice", "alice\x00", " alice"]:
        response = acme.post("/members", {"external_id": bad}, key=None)
        assert response.status_code == 422, bad
        assert error_code(response) == "invalid_external_id"
