"""Idempotency keys on the money-moving POSTs, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest

from coffer.db.idempotency import RETENTION
from coffer.db.idempotency import purge as purge_idempotency_keys
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.integration.test_api_support import Tenant, World, error_code, ok

GRANT = {"amount": 1000, "cash_kind": "paid", "reason": "welcome"}


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    tenant = world.tenant("Acme")
    tenant.member("alice")
    return tenant


def test_same_key_and_body_replays_the_first_response(acme: Tenant) -> None:
    first = acme.post("/members/alice/grants", GRANT, key="grant-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    before = acme.snapshot("alice")

    again = acme.post("/members/alice/grants", GRANT, key="grant-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert acme.snapshot("alice") == before
    assert before[0]["paid"] == 1000
    assert before[1] == 1


def test_key_order_and_spacing_do_not_make_another_request(acme: Tenant) -> None:
    first = acme.post("/members/alice/grants", GRANT, key="k")
    reordered = b'{ "reason": "welcome",  "cash_kind": "paid", "amount": 1000 }'
    again = acme.post(
        "/members/alice/grants",
        key="k",
        content=reordered,
        headers={"Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_key_with_another_request_is_a_conflict(acme: Tenant) -> None:
    ok(acme.post("/members/alice/grants", GRANT, key="k"), 201)
    before = acme.snapshot("alice")
    for path, body in [
        ("/members/alice/grants", {**GRANT, "amount": 999}),
        ("/members/alice/spends", {"amount": 10, "reference": "r"}),
    ]:
        response = acme.post(path, body, key="k")
        assert response.status_code == 409
        assert error_code(response) == "idempotency_key_reused"
    assert acme.snapshot("alice") == before


def test_keys_belong_to_one_service(world: World, acme: Tenant) -> None:
    other = world.tenant("Other")
    other.member("alice")
    ok(acme.post("/members/alice/grants", GRANT, key="shared"), 201)
    response = other.post("/members/alice/grants", {**GRANT, "amount": 5}, key="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["balance"]["paid"] == 5


def test_a_refused_request_keeps_no_key_and_can_be_retried(acme: Tenant) -> None:
    spend = {"amount": 500, "reference": "order-1"}
    refused = acme.post("/members/alice/spends", spend, key="spend-1")
    assert refused.status_code == 422
    assert error_code(refused) == "insufficient_funds"
    assert refused.json()["error"]["details"] == {"requested": 500, "available": 0}
    assert acme.snapshot("alice")[2] == 0

    acme.grant("alice", 800)
    retried = acme.post("/members/alice/spends", spend, key="spend-1")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["balance"]["available"] == 300


def test_every_money_move_replays(acme: Tenant) -> None:
    acme.grant("alice", 1000)
    spend = ok(acme.post("/members/alice/spends", {"amount": 100, "reference": "r"}, key="s"), 201)
    hold = ok(
        acme.post("/members/alice/holds", {"amount": 100, "expires_in_seconds": 60}, key="h"), 201
    )
    other = acme.hold("alice", 50)
    calls = [
        ("/members/alice/spends", {"amount": 100, "reference": "r"}, "s"),
        ("/members/alice/holds", {"amount": 100, "expires_in_seconds": 60}, "h"),
        (f"/spends/{spend['id']}/reverse", {"reason": "oops"}, "rev"),
        (f"/holds/{hold['id']}/commit", {"amount": 40}, "commit"),
        (f"/holds/{other['id']}/release", None, "release"),
    ]
    for path, body, key in calls[2:]:
        acme.post(path, body, key=key).raise_for_status()
    before = acme.snapshot("alice")
    for path, body, key in calls:
        replay = acme.post(path, body, key=key)
        assert replay.status_code in (200, 201), replay.text
        assert replay.headers["Idempotent-Replayed"] == "true", path
    assert acme.snapshot("alice") == before


def test_concurrent_requests_with_one_key_run_once(acme: Tenant) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        response = acme.post("/members/alice/grants", GRANT, key="race")
        with lock:
            responses.append(response)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert len(responses) == threads
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    balance, journals, keys = acme.snapshot("alice")
    assert balance["paid"] == 1000
    assert (journals, keys) == (1, 1)


def test_purge_removes_only_old_keys(world: World, acme: Tenant) -> None:
    ok(acme.post("/members/alice/grants", GRANT, key="old"), 201)
    world.clock.advance(RETENTION + timedelta(minutes=1))
    ok(acme.post("/members/alice/grants", GRANT, key="new"), 201)
    cutoff = world.clock.now() - RETENTION
    assert world.db.write(lambda conn: purge_idempotency_keys(conn, cutoff)) == 1
    assert acme.snapshot("alice")[2] == 1
    # After the purge the old key is free again (the documented retention trade-off).
    assert "Idempotent-Replayed" not in acme.post("/members/alice/grants", GRANT, key="old").headers
    assert acme.post("/members/alice/grants", GRANT, key="new").headers["Idempotent-Replayed"]
