"""Services in the admin web: API keys shown once and revoked; settings audited before/after."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows, ledger_state

_KEY = re.compile(r'data-testid="new-api-key">(ck_[0-9a-f]{12}_[A-Za-z0-9_-]+)<')
_SECRET = re.compile(r'data-testid="new-webhook-secret">(whsec_[A-Za-z0-9_-]+)<')


@pytest.fixture
def desk(db: Database, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk(db, clock)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    return desk.service("Acme")


@pytest.fixture
def operator(desk: Desk) -> Admin:
    return desk.admin("operator")


def _page(service: Service) -> str:
    return f"/admin/services/{service.id}"


def test_api_key_is_shown_once_and_works(desk: Desk, service: Service, operator: Admin) -> None:
    created = operator.post(_page(service) + "/keys", {"label": "game server"})
    assert created.status_code == 200, created.text
    found = _KEY.search(created.text)
    assert found, created.text
    key = found.group(1)
    assert created.headers["cache-control"] == "no-store"
    again = operator.get(_page(service))
    assert key not in again.text
    assert "new-api-key" not in again.text
    prefix = key.split("_")[1]
    assert f'data-testid="api-key-{prefix}"' in again.text

    api = operator.client.get("/api/v1/members/x", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 404  # authenticated: the member just does not exist

    rows = audit_rows(desk.db, "services.api_key_create")
    assert len(rows) == 1
    assert rows[0]["target_id"] == prefix
    assert rows[0]["after"] == {"prefix": prefix, "label": "game server"}
    assert key not in str(rows[0])

    revoked = operator.post(f"{_page(service)}/keys/{prefix}/revoke")
    assert revoked.status_code == 303, revoked.text
    api = operator.client.get("/api/v1/members/x", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 401
    assert len(audit_rows(desk.db, "services.api_key_revoke")) == 1
    twice = operator.post(f"{_page(service)}/keys/{prefix}/revoke")
    assert twice.status_code == 404
    assert len(audit_rows(desk.db, "services.api_key_revoke")) == 1


def test_settings_change_with_before_and_after(
    desk: Desk, service: Service, operator: Admin
) -> None:
    form = {
        "consumption_order": "paid_first",
        "timezone": "Asia/Tokyo",
        "grant_approval_threshold": "50000",
        "webhook_url": "",
    }
    response = operator.post(_page(service) + "/settings", form)
    assert response.status_code == 303, response.text
    changed = desk.db.read(lambda c: tenancy.get_service(c, service.id))
    assert (changed.consumption_order, changed.timezone, changed.grant_approval_threshold) == (
        "paid_first",
        "Asia/Tokyo",
        50_000,
    )
    [row] = audit_rows(desk.db, "services.settings")
    assert row["before"]["consumption_order"] == "bonus_first"
    assert row["before"]["grant_approval_threshold"] is None
    assert row["after"]["timezone"] == "Asia/Tokyo"
    assert row["after"]["grant_approval_threshold"] == 50_000

    same = operator.post(_page(service) + "/settings", form)
    assert same.status_code == 303
    assert audit_count(desk.db, "services.settings") == 1

    cleared = operator.post(_page(service) + "/settings", {**form, "grant_approval_threshold": ""})
    assert cleared.status_code == 303
    assert (
        desk.db.read(lambda c: tenancy.get_service(c, service.id)).grant_approval_threshold is None
    )


def test_setting_a_webhook_url_shows_a_new_secret_once(
    desk: Desk, service: Service, operator: Admin
) -> None:
    form = {
        "consumption_order": "bonus_first",
        "timezone": "Asia/Seoul",
        "grant_approval_threshold": "",
        "webhook_url": "https://game.example/hooks",
    }
    response = operator.post(_page(service) + "/settings", form)
    assert response.status_code == 200, response.text
    secret = _SECRET.search(response.text)
    assert secret
    url, stored = desk.db.read(lambda c: tenancy.webhook_target(c, service.id))
    assert (url, stored) == ("https://game.example/hooks", secret.group(1))
    assert secret.group(1) not in operator.get(_page(service)).text
    [row] = audit_rows(desk.db, "services.settings")
    assert row["after"]["webhook_secret_set"] is True
    assert secret.group(1) not in str(row)

    rotated = operator.post(_page(service) + "/webhook-secret")
    assert rotated.status_code == 200
    new = _SECRET.search(rotated.text)
    assert new
    assert new.group(1) != secret.group(1)
    assert desk.db.read(lambda c: tenancy.webhook_target(c, service.id))[1] == new.group(1)
    assert audit_count(desk.db, "services.webhook_secret_rotate") == 1

    off = operator.post(_page(service) + "/settings", {**form, "webhook_url": ""})
    assert off.status_code == 303
    assert desk.db.read(lambda c: tenancy.webhook_target(c, service.id)) == (None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"timezone": ""}, "time zone"),
        ({"consumption_order": "random"}, "Choose one"),
        ({"grant_approval_threshold": "1.5"}, "no decimals"),
        ({"grant_approval_threshold": "0"}, "above zero"),
        ({"grant_approval_threshold": "-1"}, "digits only"),
        ({"webhook_url": "ftp://x.example"}, "http"),
        ({"webhook_url": "not a url"}, "http"),
    ],
)
def test_bad_settings_change_nothing(
    desk: Desk, service: Service, operator: Admin, change: dict[str, str], message: str
) -> None:
    form = {
        "consumption_order": "bonus_first",
        "timezone": "Asia/Seoul",
        "grant_approval_threshold": "",
        "webhook_url": "",
        **change,
    }
    before, audits = ledger_state(desk.db), audit_count(desk.db)
    response = operator.post(_page(service) + "/settings", form, headers={"Accept-Language": "en"})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert (ledger_state(desk.db), audit_count(desk.db)) == (before, audits)


def test_viewers_see_services_but_change_nothing(desk: Desk, service: Service) -> None:
    viewer = desk.admin("viewer")
    page = viewer.get(_page(service))
    assert page.status_code == 200
    assert 'data-testid="create-key-form"' not in page.text
    assert 'data-testid="settings-submit"' not in page.text
    before, audits = ledger_state(desk.db), audit_count(desk.db)
    for path in ("/keys", "/settings", "/webhook-secret"):
        assert viewer.post(_page(service) + path, {"label": "x"}).status_code == 403
    assert (ledger_state(desk.db), audit_count(desk.db)) == (before, audits)


def test_unknown_services_are_not_found(desk: Desk, operator: Admin) -> None:
    for path in ("/admin/services/nope", "/admin/services/01890000-0000-7000-8000-000000000000"):
        assert operator.get(path).status_code == 404
        assert operator.post(path + "/keys", {"label": "x"}).status_code == 404
