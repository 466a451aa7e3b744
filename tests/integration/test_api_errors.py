"""Bad input never moves money and never gives a 500: one table of refusals, on both databases.

Every case asserts the status, the envelope's code, and that no member's ledger changed (balance,
journal count, idempotency keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coffer import app
from coffer.api.asgi import create_app
from coffer.config import Settings
from coffer.db.engine import make_engine
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.tenancy import service as tenancy
from tests.integration.test_api_support import V1, Tenant, World, error_code, ok


@dataclass
class Scene:
    world: World
    acme: Tenant
    other: Tenant
    revoked_key: str
    ids: dict[str, str]

    def snapshot(self) -> list[Any]:
        return [
            self.acme.snapshot("alice"),
            self.acme.snapshot("sam"),
            self.other.snapshot("bob"),
        ]


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Scene:
    world = World(db, clock)
    acme, other = world.tenant("Acme"), world.tenant("Other")
    acme.member("alice")
    grant = acme.grant("alice", 1000, "paid")
    acme.grant("alice", 500, "bonus")
    spend = acme.spend("alice", 100)
    reversed_spend = acme.spend("alice", 50)
    ok(acme.post(f"/spends/{reversed_spend['id']}/reverse", {}), 201)
    hold = acme.hold("alice", 100)
    released = acme.hold("alice", 10)
    ok(acme.post(f"/holds/{released['id']}/release"), 200)
    acme.member("sam")
    acme.grant("sam", 200)
    sams_hold = acme.hold("sam", 20)
    ok(acme.patch("/members/sam", {"status": "suspended"}), 200)
    acme.member("carl")
    ok(acme.patch("/members/carl", {"status": "closed"}), 200)

    other.member("bob")
    other_grant = other.grant("bob", 100)
    other_hold = other.hold("bob", 10)

    def revoked(conn: Any) -> str:
        key = tenancy.create_api_key(conn, acme.service.id, now=clock.now(), label="old")
        tenancy.revoke_api_key(conn, acme.service.id, key.prefix, now=clock.now())
        return key.plaintext

    return Scene(
        world,
        acme,
        other,
        db.write(revoked),
        {
            "grant": grant["id"],
            "spend": spend["id"],
            "reversed": reversed_spend["id"],
            "hold": hold["id"],
            "released": released["id"],
            "other_hold": other_hold["id"],
            "sams_hold": sams_hold["id"],
            "other_journal": other_grant["id"],
        },
    )


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Any = None
    status: int = 422
    code: str = "invalid_request"
    raw: bytes | None = None
    content_type: str = "application/json"  # sent with ``raw`` bodies
    auth: str = "valid"  # valid, none, malformed, basic, wrong, revoked
    key: str | None = "fresh"  # Idempotency-Key: "fresh", None (absent) or the value to send


def grant_body(**changes: Any) -> dict[str, Any]:
    return {"amount": 100, "cash_kind": "paid", "reason": "r", **changes}


def spend_body(**changes: Any) -> dict[str, Any]:
    return {"amount": 100, "reference": "ref", **changes}


GRANTS = "/members/alice/grants"
SPENDS = "/members/alice/spends"
HOLDS = "/members/alice/holds"
HISTORY = "/members/alice/history"

CASES: dict[str, Case] = {
    # amounts: a JSON integer from 1 to 2**53, nothing else
    "float-1.5": Case("POST", SPENDS, spend_body(amount=1.5), code="invalid_amount"),
    "float-100.0": Case("POST", GRANTS, grant_body(amount=100.0), code="invalid_amount"),
    "string-100": Case("POST", SPENDS, spend_body(amount="100"), code="invalid_amount"),
    "bool-true": Case("POST", GRANTS, grant_body(amount=True), code="invalid_amount"),
    "zero": Case("POST", SPENDS, spend_body(amount=0), code="invalid_amount"),
    "negative": Case("POST", GRANTS, grant_body(amount=-5), code="invalid_amount"),
    "too-big": Case("POST", GRANTS, grant_body(amount=2**53 + 1), code="invalid_amount"),
    "null-amount": Case("POST", SPENDS, spend_body(amount=None), code="invalid_amount"),
    "hold-float": Case(
        "POST", HOLDS, {"amount": 1.0, "expires_in_seconds": 60}, code="invalid_amount"
    ),
    "commit-float": Case("POST", "/holds/{hold}/commit", {"amount": 5.5}, code="invalid_amount"),
    "raw-1e2": Case(
        "POST", SPENDS, raw=b'{"amount": 1e2, "reference": "r"}', code="invalid_amount"
    ),
    "missing-amount": Case("POST", SPENDS, {"reference": "r"}),
    # other fields
    "unknown-cash-kind": Case(
        "POST", GRANTS, grant_body(cash_kind="gold"), code="invalid_cash_kind"
    ),
    "unknown-source": Case("POST", GRANTS, grant_body(source="charge"), code="invalid_source"),
    "extra-field": Case("POST", SPENDS, spend_body(currency="KRW")),
    "naive-expiry": Case(
        "POST", GRANTS, grant_body(expires_at="2026-12-31T00:00:00"), code="invalid_expiry"
    ),
    "past-expiry": Case(
        "POST", GRANTS, grant_body(expires_at="2026-02-01T00:00:00Z"), code="invalid_expiry"
    ),
    "date-only-expiry": Case(
        "POST", GRANTS, grant_body(expires_at="2026-12-31"), code="invalid_expiry"
    ),
    "missing-reason": Case("POST", GRANTS, {"amount": 1, "cash_kind": "paid"}),
    "nul-reference": Case("POST", SPENDS, spend_body(reference="a\x00b"), code="invalid_reference"),
    "surrogate-reference": Case(
        "POST", SPENDS, raw=b'{"amount": 1, "reference": "\\ud800"}', code="invalid_reference"
    ),
    "long-reference": Case(
        "POST", SPENDS, spend_body(reference="x" * 201), code="invalid_reference"
    ),
    "hold-seconds-zero": Case(
        "POST", HOLDS, {"amount": 1, "expires_in_seconds": 0}, code="invalid_expires_in_seconds"
    ),
    "hold-seconds-float": Case(
        "POST", HOLDS, {"amount": 1, "expires_in_seconds": 6.0}, code="invalid_expires_in_seconds"
    ),
    # bodies that are not the JSON object we want
    "malformed-json": Case("POST", SPENDS, raw=b'{"amount": 1,', status=400, code="malformed_json"),
    "invalid-utf8": Case(
        "POST", SPENDS, raw=b'{"amount": "\xff"}', status=400, code="malformed_json"
    ),
    "json-array": Case("POST", SPENDS, raw=b"[1, 2]"),
    "empty-body": Case("POST", SPENDS, raw=b""),
    "not-json": Case(
        "POST",
        SPENDS,
        raw=b"amount=1",
        content_type="application/x-www-form-urlencoded",
        status=415,
        code="unsupported_media_type",
    ),
    # members and objects that are not there, or not ours (404, never 403)
    "unknown-member": Case("POST", "/members/nobody/spends", spend_body(), 404, "member_not_found"),
    "nul-member": Case("GET", "/members/a%00b/balance", status=404, code="member_not_found"),
    "others-member-spend": Case(
        "POST", "/members/bob/spends", spend_body(), 404, "member_not_found"
    ),
    "others-member-grant": Case(
        "POST", "/members/bob/grants", grant_body(), 404, "member_not_found"
    ),
    "others-member-read": Case("GET", "/members/bob/balance", status=404, code="member_not_found"),
    "others-hold-read": Case("GET", "/holds/{other_hold}", status=404, code="hold_not_found"),
    "others-hold-commit": Case(
        "POST", "/holds/{other_hold}/commit", {}, status=404, code="hold_not_found"
    ),
    "others-hold-release": Case(
        "POST", "/holds/{other_hold}/release", status=404, code="hold_not_found"
    ),
    "others-journal": Case(
        "GET", "/journals/{other_journal}", status=404, code="journal_not_found"
    ),
    "others-journal-reverse": Case(
        "POST", "/spends/{other_journal}/reverse", {}, status=404, code="journal_not_found"
    ),
    "bad-hold-id": Case("GET", "/holds/not-a-uuid", status=404, code="hold_not_found"),
    "bad-journal-id": Case("GET", "/journals/123", status=404, code="journal_not_found"),
    "unknown-route": Case("GET", "/nowhere", status=404, code="not_found"),
    "wrong-method": Case("DELETE", SPENDS, status=405, code="method_not_allowed"),
    # member status
    "suspended-spend": Case(
        "POST", "/members/sam/spends", spend_body(), status=409, code="member_suspended"
    ),
    "suspended-hold": Case(
        "POST",
        "/members/sam/holds",
        {"amount": 1, "expires_in_seconds": 60},
        status=409,
        code="member_suspended",
    ),
    "suspended-commit": Case("POST", "/holds/{sams_hold}/commit", {}, 409, "member_suspended"),
    "closed-grant": Case("POST", "/members/carl/grants", grant_body(), 409, "member_closed"),
    "duplicate-member": Case(
        "POST", "/members", {"external_id": "alice"}, status=409, code="member_exists", key=None
    ),
    "bad-status": Case("PATCH", "/members/alice", {"status": "gone"}, code="invalid_status"),
    "bad-external-id": Case(
        "POST", "/members", {"external_id": " padded "}, code="invalid_external_id", key=None
    ),
    # idempotency keys
    "missing-key": Case("POST", SPENDS, spend_body(), 400, "idempotency_key_required", key=None),
    "empty-key": Case("POST", SPENDS, spend_body(), 400, "invalid_idempotency_key", key=""),
    "oversized-key": Case(
        "POST", SPENDS, spend_body(), 400, "invalid_idempotency_key", key="k" * 256
    ),
    # API keys
    "no-api-key": Case("POST", SPENDS, spend_body(), 401, "invalid_api_key", auth="none"),
    "malformed-api-key": Case(
        "POST", SPENDS, spend_body(), 401, "invalid_api_key", auth="malformed"
    ),
    "basic-auth": Case("GET", "/members/alice", None, 401, "invalid_api_key", auth="basic"),
    "wrong-secret": Case("POST", SPENDS, spend_body(), 401, "invalid_api_key", auth="wrong"),
    "revoked-api-key": Case("POST", SPENDS, spend_body(), 401, "invalid_api_key", auth="revoked"),
    # state
    "insufficient-funds": Case(
        "POST", SPENDS, spend_body(amount=10_000), code="insufficient_funds"
    ),
    "hold-insufficient": Case(
        "POST", HOLDS, {"amount": 10_000, "expires_in_seconds": 60}, code="insufficient_funds"
    ),
    "commit-more-than-held": Case(
        "POST", "/holds/{hold}/commit", {"amount": 101}, code="amount_exceeds_hold"
    ),
    "commit-released": Case("POST", "/holds/{released}/commit", {}, 409, "hold_released"),
    "release-released": Case("POST", "/holds/{released}/release", None, 409, "hold_released"),
    "reverse-twice": Case("POST", "/spends/{reversed}/reverse", {}, 409, "already_reversed"),
    "reverse-a-grant": Case("POST", "/spends/{grant}/reverse", {}, 409, "not_reversible"),
    # history queries
    "history-bad-kind": Case("GET", HISTORY + "?kind=refund", code="invalid_kind"),
    "history-limit-zero": Case("GET", HISTORY + "?limit=0", code="invalid_limit"),
    "history-limit-big": Case("GET", HISTORY + "?limit=201", code="invalid_limit"),
    "history-limit-text": Case("GET", HISTORY + "?limit=ten", code="invalid_limit"),
    "history-bad-date": Case("GET", HISTORY + "?from=2026-02-30", code="invalid_date"),
    "history-date-format": Case("GET", HISTORY + "?to=03/01/2026", code="invalid_date"),
    "history-date-range": Case(
        "GET", HISTORY + "?from=2026-03-02&to=2026-03-01", code="invalid_date_range"
    ),
    "history-bad-cursor": Case("GET", HISTORY + "?cursor=abc", code="invalid_cursor"),
    "holds-bad-status": Case("GET", "/members/alice/holds?status=open", code="invalid_status"),
}


def _headers(scene: Scene, case: Case) -> dict[str, str]:
    key = scene.acme.api_key
    authorization = {
        "valid": f"Bearer {key}",
        "malformed": "Bearer not-a-key",
        "basic": "Basic eA==",
        "wrong": f"Bearer {key[:-4]}{'abcd' if not key.endswith('abcd') else 'efgh'}",
        "revoked": f"Bearer {scene.revoked_key}",
    }.get(case.auth)
    headers = {"Authorization": authorization} if authorization else {}
    if case.key == "fresh":
        headers["Idempotency-Key"] = f"case-{id(case)}"
    elif case.key is not None:
        headers["Idempotency-Key"] = case.key
    if case.raw is not None:
        headers["Content-Type"] = case.content_type
    return headers


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_and_moves_nothing(scene: Scene, name: str) -> None:
    case = CASES[name]
    before = scene.snapshot()
    client = scene.world.client
    path = V1 + case.path.format(**scene.ids) if case.path != "/nowhere" else case.path
    headers = _headers(scene, case)
    if case.raw is not None:
        response = client.request(case.method, path, content=case.raw, headers=headers)
    elif case.body is not None:
        response = client.request(case.method, path, json=case.body, headers=headers)
    else:
        response = client.request(case.method, path, headers=headers)

    assert response.status_code == case.status, response.text
    assert error_code(response) == case.code, response.text
    assert scene.snapshot() == before
    if case.status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_suspended_members_hold_can_still_be_released(scene: Scene) -> None:
    released = scene.acme.post(f"/holds/{scene.ids['sams_hold']}/release")
    assert ok(released, 200)["status"] == "released"
    assert ok(scene.acme.get("/members/sam/balance"), 200)["available"] == 200


def test_validation_details_list_every_field(scene: Scene) -> None:
    response = scene.acme.post(GRANTS, {"amount": 1.5, "cash_kind": "gold", "extra": 1})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert sorted((e["field"], e["code"]) for e in error["details"]["errors"]) == [
        ("amount", "invalid_amount"),
        ("cash_kind", "invalid_cash_kind"),
        ("extra", "unknown_field"),
        ("reason", "required"),
    ]


def test_an_unexpected_error_is_a_logged_500_envelope(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("kaboom")

    scene.world.app.add_api_route("/boom", boom)
    client = TestClient(scene.world.app, raise_server_exceptions=False)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side.",
            "details": {},
        }
    }
    assert "kaboom" not in response.text
    assert any(record.exc_info and "GET /boom" in record.getMessage() for record in caplog.records)


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Any) -> None:
    broken = Database(make_engine(f"sqlite+pysqlite:///{tmp_path}/missing/dir/x.sqlite3"))
    runtime = app.Runtime(Settings.from_env({}), broken, ManualClock())
    client = TestClient(create_app(runtime))
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert error_code(response) == "database_unavailable"
