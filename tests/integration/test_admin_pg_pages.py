"""The PG administration pages: contracts, secrets never shown, methods, routing, limits, health."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.payments import commissions, contracts, health, limits, routing
from coffer.payments.commissions import MethodTerms
from coffer.payments.limits import ChargeLimits
from coffer.payments.secrets import SecretBox
from coffer.server import create_server
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows
from tests.integration.pg_support import (
    BOX,
    BOX_KEY,
    SECRET,
    WEBHOOK_SECRET,
    new_contract,
    pg_state,
)

NEW_SECRET = "sk_live_REPLACED_secret_7Hq2"
NEW_WEBHOOK = "whsec_REPLACED_webhook_Lm4"
ALL_SECRETS = (SECRET, WEBHOOK_SECRET, NEW_SECRET, NEW_WEBHOOK)


def _desk(db: Database, clock: ManualClock, settings: Settings) -> Desk:
    desk = Desk(db, clock)
    desk.server = create_server(Runtime(settings, db, clock))
    return desk


@pytest.fixture
def desk(db: Database, clock: ManualClock, tmp_path: Path) -> Iterator[Desk]:
    settings = Settings.from_env({"COFFER_DATA_DIR": str(tmp_path), "COFFER_SECRET_KEY": BOX_KEY})
    desk = _desk(db, clock, settings)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    return desk.service("Acme")


def _admin(desk: Desk, role: str) -> Admin:
    """A signed-in admin reading the pages in English."""
    admin = desk.admin(role)
    admin.client.headers["Accept-Language"] = "en"
    return admin


@pytest.fixture
def operator(desk: Desk) -> Admin:
    return _admin(desk, "operator")


def _base(service: Service) -> str:
    return f"/admin/pg/{service.id}"


def _no_secrets(*pages: Any) -> None:
    for page in pages:
        for secret in ALL_SECRETS:
            assert secret not in page.text


def _create_form(**change: str) -> dict[str, str]:
    return {
        "pg": "sandbox",
        "name": "Sandbox main",
        "merchant_id": "merchant-7",
        "base_url": "http://127.0.0.1:8100",
        "client_key": "ck_test_public",
        "secret_key": SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        **change,
    }


def _only_contract(desk: Desk, service: Service) -> contracts.Contract:
    [contract] = desk.db.read(lambda c: contracts.list_contracts(c, service.id))
    return contract


def test_create_a_contract_and_its_secrets_never_come_back(
    desk: Desk, service: Service, operator: Admin
) -> None:
    home = operator.get("/admin/pg")
    assert (home.status_code, home.headers["location"]) == (303, _base(service))
    empty = operator.get(_base(service))
    assert 'data-testid="no-contracts"' in empty.text
    created = operator.post(_base(service) + "/contracts", _create_form())
    assert created.status_code == 303, created.text
    contract = _only_contract(desk, service)
    assert created.headers["location"] == f"{_base(service)}/contracts/{contract.id}"
    secrets = desk.db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (secrets.secret_key, secrets.webhook_secret) == (SECRET, WEBHOOK_SECRET)
    pages = [
        operator.get(_base(service)),
        operator.get(created.headers["location"]),
        operator.get(_base(service) + "/routing"),
        operator.get(_base(service) + "/limits"),
    ]
    assert all(page.status_code == 200 for page in pages)
    _no_secrets(*pages)
    assert "…9f3k" in pages[0].text
    assert "…9f3k" in pages[1].text
    assert 'href="/admin/pg"' in pages[0].text  # the nav link
    [row] = audit_rows(desk.db, "pg.contract_create")
    assert row["after"]["name"] == "Sandbox main"
    assert row["after"]["secret_hint"] == "…9f3k"
    assert all(secret not in str(row) for secret in ALL_SECRETS)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"pg": "paypal"}, "pg", "Choose one of the options"),
        ({"base_url": ""}, "base_url", "needs its base URL"),
        ({"base_url": "javascript:alert(1)"}, "base_url", "absolute http"),
        ({"name": ""}, "name", "at most 100 characters"),
        ({"secret_key": ""}, "secret_key", "Enter the secret key"),
        ({"webhook_secret": "  "}, "webhook_secret", "Enter the webhook secret"),
        ({"client_key": "x" * 201}, "client_key", "Enter the client key"),
    ],
)
def test_bad_contract_input_is_a_clear_message_and_nothing_is_written(
    desk: Desk,
    service: Service,
    operator: Admin,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    before = (pg_state(desk.db), audit_count(desk.db))
    refused = operator.post(_base(service) + "/contracts", _create_form(**change))
    assert refused.status_code == 422, refused.text
    assert message in refused.text
    assert f'data-testid="contract-error-{field}"' in refused.text
    _no_secrets(refused)
    assert (pg_state(desk.db), audit_count(desk.db)) == before


def test_a_taken_name_is_a_conflict(desk: Desk, service: Service, operator: Admin) -> None:
    assert operator.post(_base(service) + "/contracts", _create_form()).status_code == 303
    again = operator.post(_base(service) + "/contracts", _create_form())
    assert again.status_code == 409
    assert "already has a PG contract with this name" in again.text
    _no_secrets(again)
    assert audit_count(desk.db, "pg.contract_create") == 1


def _edit_form(contract: contracts.Contract, **change: str) -> dict[str, str]:
    return {
        "name": contract.name,
        "merchant_id": contract.merchant_id,
        "base_url": contract.base_url or "",
        "client_key": contract.client_key,
        "secret_key": "",
        "webhook_secret": "",
        **change,
    }


def test_edit_keeps_secrets_unless_new_ones_are_typed(
    desk: Desk, service: Service, operator: Admin
) -> None:
    contract = new_contract(desk.db, desk.clock, service.id)
    page = f"{_base(service)}/contracts/{contract.id}"
    renamed = operator.post(page, _edit_form(contract, name="Renamed"))
    assert renamed.status_code == 303, renamed.text
    kept = desk.db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (kept.secret_key, kept.webhook_secret) == (SECRET, WEBHOOK_SECRET)
    same = operator.post(page, _edit_form(contract, name="Renamed"))
    assert same.status_code == 303
    assert audit_count(desk.db, "pg.contract_update") == 1
    rekeyed = operator.post(
        page,
        _edit_form(contract, name="Renamed", secret_key=NEW_SECRET, webhook_secret=NEW_WEBHOOK),
    )
    assert rekeyed.status_code == 303
    fresh = desk.db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (fresh.secret_key, fresh.webhook_secret) == (NEW_SECRET, NEW_WEBHOOK)
    shown = operator.get(page)
    assert "…7Hq2" in shown.text
    _no_secrets(shown)
    rows = audit_rows(desk.db, "pg.contract_update")
    assert rows[-1]["before"]["secret_hint"] == "…9f3k"
    assert rows[-1]["after"]["secret_hint"] == "…7Hq2"
    assert rows[-1]["after"]["webhook_secret_replaced"] is True
    assert all(secret not in str(rows) for secret in ALL_SECRETS)
    before = pg_state(desk.db)
    bad = operator.post(
        page, _edit_form(contract, name="Renamed", base_url="", secret_key="sk_never_stored_1")
    )
    assert bad.status_code == 422
    assert "sk_never_stored_1" not in bad.text
    assert pg_state(desk.db) == before


def test_disable_and_enable(desk: Desk, service: Service, operator: Admin) -> None:
    contract = new_contract(desk.db, desk.clock, service.id)
    page = f"{_base(service)}/contracts/{contract.id}"
    assert 'data-testid="disable-contract"' in operator.get(page).text
    assert operator.post(page + "/status", {"status": "disabled"}).status_code == 303
    assert desk.db.read(lambda c: contracts.get_contract_by_id(c, contract.id)).status == "disabled"
    assert 'data-testid="enable-contract"' in operator.get(page).text
    assert operator.post(page + "/status", {"status": "disabled"}).status_code == 303  # no-op
    assert operator.post(page + "/status", {"status": "paused"}).status_code == 422
    assert operator.post(page + "/status", {"status": "active"}).status_code == 303
    rows = audit_rows(desk.db, "pg.contract_status")
    assert [r["after"]["status"] for r in rows] == ["disabled", "active"]


def test_method_terms_in_percent_and_major_units(
    desk: Desk, service: Service, operator: Admin
) -> None:
    contract = new_contract(desk.db, desk.clock, service.id, methods={})
    page = f"{_base(service)}/contracts/{contract.id}"
    form = {"enabled": "on", "commission_rate": "2.75", "fixed_fee": "0", "min_fee": "100"}
    assert operator.post(page + "/methods/mobile", form).status_code == 303
    terms = desk.db.read(lambda c: commissions.method_terms(c, contract.id))
    assert terms == {"mobile": MethodTerms(True, 275, 0, 100)}
    shown = operator.get(page)
    assert 'value="2.75"' in shown.text
    [row] = audit_rows(desk.db, "pg.method_set")
    assert (row["before"], row["after"]["commission_bp"]) == (None, 275)
    before = (pg_state(desk.db), audit_count(desk.db))
    for bad, message in (
        ({**form, "commission_rate": "abc"}, "Enter a percentage"),
        ({**form, "commission_rate": "100.01"}, "cannot be above 100%"),
        ({**form, "commission_rate": "2.755"}, "Enter a percentage"),
        ({**form, "fixed_fee": "-3"}, "digits only"),
        ({**form, "min_fee": "1.5"}, "no decimals"),
    ):
        refused = operator.post(page + "/methods/mobile", bad)
        assert refused.status_code == 422, (bad, refused.status_code)
        assert message in refused.text
    assert operator.post(page + "/methods/cash", form).status_code == 404
    assert (pg_state(desk.db), audit_count(desk.db)) == before


def test_routing_moves_up_and_down(desk: Desk, service: Service, operator: Admin) -> None:
    first = new_contract(desk.db, desk.clock, service.id, "First")
    second = new_contract(desk.db, desk.clock, service.id, "Second")
    page = _base(service) + "/routing"
    shown = operator.get(page)
    assert shown.text.index("First") < shown.text.index("Second")
    moved = operator.post(page + "/card", {"contract_id": str(first.id), "direction": "down"})
    assert moved.status_code == 303, moved.text
    order = desk.db.read(lambda c: routing.routes(c, service.id, "card"))
    assert order == [second.id, first.id]
    routed = desk.db.read(
        lambda c: routing.route(c, service.id, "card", pg=None, now=desk.clock.now())
    )
    assert [c.name for c in routed] == ["Second", "First"]
    [row] = audit_rows(desk.db, "pg.routes_set")
    assert row["after"] == {"order": [str(second.id), str(first.id)]}
    at_top = operator.post(page + "/card", {"contract_id": str(second.id), "direction": "up"})
    assert at_top.status_code == 303
    assert audit_count(desk.db, "pg.routes_set") == 1
    before = pg_state(desk.db)
    for bad in (
        {"contract_id": str(UUID(int=3)), "direction": "up"},
        {"contract_id": "nope", "direction": "up"},
        {"contract_id": str(first.id), "direction": "sideways"},
    ):
        assert operator.post(page + "/card", bad).status_code == 422
    assert operator.post(page + "/wire", {"contract_id": str(first.id)}).status_code == 404
    assert pg_state(desk.db) == before


def test_limits_saved_refused_and_cleared(desk: Desk, service: Service, operator: Admin) -> None:
    page = _base(service) + "/limits"
    form = {
        "min_amount": "1000",
        "max_amount": "300000",
        "amount_step": "1000",
        "per_member_day": "",
        "per_member_month": "300000",
    }
    assert operator.post(page + "/mobile", form).status_code == 303
    stored = desk.db.read(lambda c: limits.get_limits(c, service.id, "mobile"))
    assert stored == ChargeLimits(1000, 300_000, 1000, None, 300_000)
    assert 'value="300000"' in operator.get(page).text
    before = (pg_state(desk.db), audit_count(desk.db))
    for bad, message in (
        ({**form, "max_amount": "500"}, "must not be below the minimum"),
        ({**form, "min_amount": ""}, "Enter an amount"),
        ({**form, "amount_step": "0"}, "above zero"),
        ({**form, "per_member_day": "1,000"}, "digits only"),
    ):
        refused = operator.post(page + "/mobile", bad)
        assert refused.status_code == 422, (bad, refused.status_code)
        assert message in refused.text
    assert (pg_state(desk.db), audit_count(desk.db)) == before
    cleared = operator.post(page + "/mobile", {**form, "action": "clear"})
    assert cleared.status_code == 303
    assert desk.db.read(lambda c: limits.get_limits(c, service.id, "mobile")) is None
    assert audit_count(desk.db, "pg.limits_set") == 1
    assert audit_count(desk.db, "pg.limits_clear") == 1


def test_health_shows_the_breaker(desk: Desk, service: Service, operator: Admin) -> None:
    contract = new_contract(desk.db, desk.clock, service.id)
    for _ in range(health.MIN_CALLS):
        desk.db.write(
            lambda c: health.record_call(
                c, contract.id, ok=False, latency_ms=1200, now=desk.clock.now()
            )
        )
    page = operator.get(f"{_base(service)}/contracts/{contract.id}")
    assert 'data-breaker="open"' in page.text
    assert re.search(r'data-testid="health-error-rate">100%', page.text)
    assert 'data-testid="health-p95">1200 ms' in page.text
    assert 'data-testid="health-calls">10<' in page.text
    assert 'data-breaker="open"' in operator.get(_base(service) + "/routing").text
    desk.clock.advance(health.COOL_DOWN)
    assert 'data-breaker="half_open"' in operator.get(_base(service)).text


@pytest.mark.parametrize("role", ["viewer", "accountant"])
def test_viewers_see_without_forms(desk: Desk, service: Service, role: str) -> None:
    contract = new_contract(desk.db, desk.clock, service.id)
    admin = _admin(desk, role)
    pages = [
        admin.get(_base(service)),
        admin.get(f"{_base(service)}/contracts/{contract.id}"),
        admin.get(_base(service) + "/routing"),
        admin.get(_base(service) + "/limits"),
    ]
    assert [p.status_code for p in pages] == [200] * 4
    assert 'data-testid="create-contract-form"' not in pages[0].text
    assert 'data-testid="contract-submit"' not in pages[1].text
    assert "move-down" not in pages[2].text
    refused = admin.post(_base(service) + "/contracts", _create_form())
    assert refused.status_code == 403
    assert audit_count(desk.db, "pg.contract_create") == 0


def test_cs_and_marketers_may_not_open_pg_pages(desk: Desk, service: Service) -> None:
    for role in ("cs", "marketer"):
        admin = _admin(desk, role)
        page = admin.get(_base(service))
        assert page.status_code == 403
        assert 'href="/admin/pg"' not in admin.get("/admin").text


def test_unknown_objects_are_404(desk: Desk, service: Service, operator: Admin) -> None:
    other = desk.service("Other")
    theirs = new_contract(desk.db, desk.clock, other.id)
    for path in (
        f"/admin/pg/{UUID(int=9)}",
        "/admin/pg/not-a-uuid/routing",
        f"{_base(service)}/contracts/{theirs.id}",
        f"{_base(service)}/contracts/nope",
    ):
        assert operator.get(path).status_code == 404, path
    edit = operator.post(
        f"{_base(service)}/contracts/{theirs.id}", _edit_form(theirs, name="Hijack")
    )
    assert edit.status_code == 404
    assert desk.db.read(lambda c: contracts.get_contract_by_id(c, theirs.id)).name == theirs.name


def test_korean_pages(desk: Desk, service: Service, operator: Admin) -> None:
    new_contract(desk.db, desk.clock, service.id)
    operator.client.headers["Accept-Language"] = "ko"
    page = operator.get(_base(service))
    assert page.status_code == 200
    assert "PG 계약" in page.text
    assert "샌드박스 PG" in page.text


def test_without_a_key_secrets_are_refused_clearly(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {"COFFER_DATA_DIR": str(tmp_path), "COFFER_DATABASE_URL": "postgresql+psycopg://x@h/db"}
    )
    desk = _desk(db, clock, settings)
    try:
        service = desk.service("Acme")
        operator = _admin(desk, "operator")
        assert operator.get(_base(service)).status_code == 200  # reading needs no key
        refused = operator.post(_base(service) + "/contracts", _create_form())
        assert refused.status_code == 503
        assert "COFFER_SECRET_KEY" in refused.text
        _no_secrets(refused)
        assert pg_state(db)["pg_contracts"] == []
    finally:
        desk.close()


def test_the_embedded_default_makes_its_own_key(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings.from_env({"COFFER_DATA_DIR": str(tmp_path)})
    desk = _desk(db, clock, settings)
    try:
        service = desk.service("Acme")
        operator = _admin(desk, "operator")
        assert operator.post(_base(service) + "/contracts", _create_form()).status_code == 303
        key = (tmp_path / "secret.key").read_text().strip()
        contract = _only_contract(desk, service)
        opened = db.read(lambda c: contracts.contract_secrets(c, contract.id, SecretBox(key)))
        assert opened.secret_key == SECRET
    finally:
        desk.close()
