"""The usage API: sessions, heartbeats, stops, entitlements and consuming items, on both
databases; bad input is a 4xx with its code and changes nothing; other services see 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from coffer import app
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements, usage_draws, usage_sessions
from coffer.kernel.clock import ManualClock
from coffer.tenancy import service as tenancy
from tests.integration.test_api_support import Tenant, World, error_code, ok
from tests.integration.test_entitlements import grant, new_product
from tests.ledger_helpers import Account, assert_invariants

MINUTE = timedelta(minutes=1)


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    tenant = world.tenant("Acme")
    tenant.member("alice")
    return tenant


def account(tenant: Tenant, external_id: str) -> Account:
    member = tenant.db.read(lambda conn: tenancy.get_member(conn, tenant.service.id, external_id))
    return Account(tenant.service, member, app.wallet_ref(tenant.service, member))


def state(tenant: Tenant, external_id: str = "alice") -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""

    def read(conn: Any) -> tuple[Any, ...]:
        sessions = conn.execute(
            select(
                usage_sessions.c.id, usage_sessions.c.status, usage_sessions.c.used,
                usage_sessions.c.cash_charged, usage_sessions.c.last_heartbeat_at,
            ).order_by(usage_sessions.c.id)
        ).all()  # fmt: skip
        owned = conn.execute(
            select(entitlements.c.id, entitlements.c.status, entitlements.c.remaining).order_by(
                entitlements.c.id
            )
        ).all()
        counts = [
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (usage_draws, jobs)
        ]
        return tuple(sessions), tuple(owned), tuple(counts)

    return tenant.db.read(read), tenant.snapshot(external_id)


def test_play_time_session_through_the_api(acme: Tenant, world: World) -> None:
    clock, db = world.clock, world.db
    hour = new_product(db, clock, acme.service, "time_coupon", "hour", minutes=60)
    grant(db, clock, account(acme, "alice"), hour)

    opened = ok(acme.post("/sessions", {"member": "alice", "reference": "match-7"}, key=None), 201)
    session = opened["session"]
    assert (session["status"], session["unit_name"], session["reference"]) == (
        "open", "minute", "match-7",
    )  # fmt: skip
    assert (opened["remaining"], opened["exhausted"], opened["covered_until"]) == (60, False, None)
    sid = session["id"]

    clock.advance(3 * MINUTE)
    first = acme.post(f"/sessions/{sid}/heartbeat", {"used": 3}, key="beat-1")
    body = ok(first, 200)
    assert (body["used_total"], body["used"], body["remaining"], body["exhausted"]) == (
        3, 3, 57, False,
    )  # fmt: skip
    replay = acme.post(f"/sessions/{sid}/heartbeat", {"used": 3}, key="beat-1")
    assert ok(replay, 200) == body
    assert replay.headers["Idempotent-Replayed"] == "true"

    clock.advance(MINUTE)
    stopped = ok(acme.post(f"/sessions/{sid}/stop"), 200)
    assert (stopped["session"]["status"], stopped["session"]["close_reason"]) == (
        "closed", "stopped",
    )  # fmt: skip
    assert stopped["used_total"] == 3
    assert ok(acme.get(f"/sessions/{sid}"), 200) == stopped["session"]

    view = ok(acme.get("/members/alice/entitlements"), 200)
    assert view["time_minutes"] == 57
    assert (view["items"], view["passes"], view["quantities"]) == ([], [], [])
    assert view["play_covered_until"] is None


def test_products_items_and_the_entitlements_view(acme: Tenant, world: World) -> None:
    clock, db = world.clock, world.db
    alice = account(acme, "alice")
    meter = new_product(db, clock, acme.service, "metered", "per-call", unit_price=10)
    calls = new_product(db, clock, acme.service, "quantity_pass", "calls", units=5)
    monthly = new_product(db, clock, acme.service, "period_pass", "monthly", pass_days=30)
    potion = new_product(db, clock, acme.service, "item", "potion")
    [potions] = grant(db, clock, alice, potion, 3)
    grant(db, clock, alice, calls)
    grant(db, clock, alice, monthly)
    acme.grant("alice", 500)

    metered = ok(acme.post("/sessions", {"member": "alice", "product": "per-call"}, key=None), 201)
    assert metered["session"]["product_id"] == str(meter.id)
    beat = ok(acme.post(f"/sessions/{metered['session']['id']}/heartbeat", {"used": 4}), 200)
    assert (beat["charged"], beat["remaining"], beat["session"]["cash_charged"]) == (40, 46, 40)
    assert ok(acme.get("/members/alice/balance"), 200)["available"] == 460
    by_id = ok(acme.post("/sessions", {"member": "alice", "product": str(calls.id)}, key=None), 201)
    assert by_id["remaining"] == 5

    consumed = ok(acme.post(f"/members/alice/items/{potions}/consume", {"quantity": 2}), 200)
    assert (consumed["remaining"], consumed["status"], consumed["product"]["sku"]) == (
        1, "active", "potion",
    )  # fmt: skip

    view = ok(acme.get("/members/alice/entitlements"), 200)
    assert [(i["product"]["sku"], i["remaining"]) for i in view["items"]] == [("potion", 1)]
    [month] = view["passes"]
    assert (month["product"]["sku"], month["starts_at"], month["ends_at"]) == (
        "monthly", "2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z",
    )  # fmt: skip
    assert view["play_covered_until"] == "2026-03-31T00:00:00Z"
    assert [(q["product"]["sku"], q["remaining"]) for q in view["quantities"]] == [("calls", 5)]
    assert_invariants(db)


def test_running_out_answers_exhausted_then_409(acme: Tenant, world: World) -> None:
    calls = new_product(world.db, world.clock, acme.service, "quantity_pass", "calls", units=5)
    grant(world.db, world.clock, account(acme, "alice"), calls)
    sid = ok(acme.post("/sessions", {"member": "alice", "product": "calls"}, key=None), 201)[
        "session"
    ]["id"]

    last = ok(acme.post(f"/sessions/{sid}/heartbeat", {"used": 7}), 200)

    assert (last["exhausted"], last["used"], last["unaccounted"], last["remaining"]) == (
        True, 5, 2, 0,
    )  # fmt: skip
    assert last["session"]["status"] == "exhausted"
    again = acme.post(f"/sessions/{sid}/heartbeat", {"used": 1})
    assert (again.status_code, error_code(again)) == (409, "session_exhausted")
    stop = acme.post(f"/sessions/{sid}/stop", {"used": 0})
    assert (stop.status_code, error_code(stop)) == (409, "session_exhausted")


SESSION = "<session>"
ITEM = "<item>"
HB = f"/sessions/{SESSION}/heartbeat"
STOP = f"/sessions/{SESSION}/stop"
CONSUME = f"/members/alice/items/{ITEM}/consume"
NO_KEY = "idempotency_key_required"

#: (method path, body, Idempotency-Key sent, status, code)
BAD: dict[str, tuple[str, Any, bool, int, str]] = {
    "used-negative": (HB, {"used": -1}, True, 422, "invalid_used"),
    "used-fraction": (HB, {"used": 1.5}, True, 422, "invalid_used"),
    "used-float": (HB, {"used": 2.0}, True, 422, "invalid_used"),
    "used-string": (HB, {"used": "2"}, True, 422, "invalid_used"),
    "used-bool": (HB, {"used": True}, True, 422, "invalid_used"),
    "used-huge": (HB, {"used": 10**7}, True, 422, "invalid_used"),
    "used-missing": (HB, {}, True, 422, "invalid_request"),
    "unknown-field": (
        HB, {"used": 1, "x": 1}, True, 422, "invalid_request",
    ),
    "no-key": (HB, {"used": 1}, False, 400, NO_KEY),
    "stop-no-key": (STOP, {"used": 1}, False, 400, NO_KEY),
    "stop-bad-used": (STOP, {"used": -2}, True, 422, "invalid_used"),
    "unknown-session": (
        "/sessions/0190f3c4-0000-7000-8000-000000000000/heartbeat", {"used": 1}, True, 404,
        "session_not_found",
    ),
    "malformed-session": ("/sessions/nope/heartbeat", {"used": 1}, True, 404, "session_not_found"),
    "start-no-member": ("/sessions", {"product": "calls"}, False, 422, "invalid_request"),
    "start-unknown-member": ("/sessions", {"member": "zed"}, False, 404, "member_not_found"),
    "start-unknown-product": (
        "/sessions", {"member": "alice", "product": "nope"}, False, 404, "product_not_found",
    ),
    "start-bad-product": (
        "/sessions", {"member": "alice", "product": ""}, False, 422, "invalid_product",
    ),
    "start-item": (
        "/sessions", {"member": "alice", "product": "potion"}, False, 422, "product_not_usable",
    ),
    "start-metered-poor": (
        "/sessions", {"member": "alice", "product": "per-call"}, False, 422,
        "insufficient_balance_to_start",
    ),
    "start-mixed-no-pass": (
        "/sessions", {"member": "alice", "product": "plan"}, False, 422, "no_entitlement",
    ),
    "start-bad-reference": (
        "/sessions", {"member": "alice", "reference": "a\x00b"}, False, 422, "invalid_reference",
    ),
    "consume-zero": (CONSUME, {"quantity": 0}, True, 422, "invalid_quantity"),
    "consume-fraction": (
        CONSUME, {"quantity": 0.5}, True, 422, "invalid_quantity",
    ),
    "consume-too-many": (
        CONSUME, {"quantity": 4}, True, 422, "insufficient_quantity",
    ),
    "consume-unknown": (
        "/members/alice/items/0190f3c4-0000-7000-8000-000000000000/consume", {"quantity": 1},
        True, 404, "entitlement_not_found",
    ),
    "consume-no-key": (
        CONSUME, {"quantity": 1}, False, 400,
        NO_KEY,
    ),
    "consume-unknown-member": (
        f"/members/zed/items/{ITEM}/consume", {"quantity": 1}, True, 404, "member_not_found",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_and_changes_nothing(acme: Tenant, world: World, case: str) -> None:
    clock, db = world.clock, world.db
    alice = account(acme, "alice")
    calls = new_product(db, clock, acme.service, "quantity_pass", "calls", units=5)
    potion = new_product(db, clock, acme.service, "item", "potion")
    new_product(db, clock, acme.service, "metered", "per-call", min_balance=1_000)
    new_product(db, clock, acme.service, "mixed", "plan")
    grant(db, clock, alice, calls)
    [item] = grant(db, clock, alice, potion, 3)
    acme.grant("alice", 100)
    sid = ok(acme.post("/sessions", {"member": "alice", "product": "calls"}, key=None), 201)[
        "session"
    ]["id"]
    clock.advance(MINUTE)
    path, body, with_key, status, code = BAD[case]
    path = path.replace(SESSION, sid).replace(ITEM, str(item))
    before = state(acme)

    response = acme.post(path, body, key="fresh-key" if with_key else None)

    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert state(acme) == before


def test_another_services_objects_are_not_found(acme: Tenant, world: World) -> None:
    clock, db = world.clock, world.db
    beta = world.tenant("Beta")
    beta.member("alice")
    calls = new_product(db, clock, acme.service, "quantity_pass", "calls", units=5)
    potion = new_product(db, clock, acme.service, "item", "potion")
    grant(db, clock, account(acme, "alice"), calls)
    [item] = grant(db, clock, account(acme, "alice"), potion, 2)
    sid = ok(acme.post("/sessions", {"member": "alice", "product": "calls"}, key=None), 201)[
        "session"
    ]["id"]
    before = state(acme)

    for path, body in [
        (f"/sessions/{sid}/heartbeat", {"used": 1}),
        (f"/sessions/{sid}/stop", {"used": 1}),
    ]:
        response = beta.post(path, body)
        assert (response.status_code, error_code(response)) == (404, "session_not_found")
    response = beta.get(f"/sessions/{sid}")
    assert (response.status_code, error_code(response)) == (404, "session_not_found")
    for product in ("calls", str(calls.id)):
        response = beta.post("/sessions", {"member": "alice", "product": product}, key=None)
        assert (response.status_code, error_code(response)) == (404, "product_not_found")
    response = beta.post(f"/members/alice/items/{item}/consume", {"quantity": 1})
    assert (response.status_code, error_code(response)) == (404, "entitlement_not_found")
    assert ok(beta.get("/members/alice/entitlements"), 200)["items"] == []

    assert state(acme) == before


def test_a_suspended_member_cannot_start_or_report(acme: Tenant, world: World) -> None:
    calls = new_product(world.db, world.clock, acme.service, "quantity_pass", "calls")
    grant(world.db, world.clock, account(acme, "alice"), calls)
    sid = ok(acme.post("/sessions", {"member": "alice", "product": "calls"}, key=None), 201)[
        "session"
    ]["id"]
    ok(acme.patch("/members/alice", {"status": "suspended"}), 200)
    before = state(acme)

    started = acme.post("/sessions", {"member": "alice", "product": "calls"}, key=None)
    beat = acme.post(f"/sessions/{sid}/heartbeat", {"used": 1})

    assert (started.status_code, error_code(started)) == (409, "member_suspended")
    assert (beat.status_code, error_code(beat)) == (409, "member_suspended")
    assert state(acme) == before
