"""Bad form input on the CS desk: a 4xx page with the error, nothing changed, no audit row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import pytest
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.ids import uuid7
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.tenancy.model import Service
from tests.integration.desk_support import Admin, Desk, audit_count, ledger_state, member_path


@dataclass
class Scene:
    desk: Desk
    service: Service
    other: Service
    cs: Admin
    alice_spend: UUID
    alice_grant: UUID
    bob_spend: UUID
    bob_hold: UUID
    zoe_spend: UUID


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    desk = Desk(db, clock)
    service, other = desk.service("Acme"), desk.service("Other")
    ids = {}
    for owner, name in ((service, "alice"), (service, "bob"), (other, "zoe")):
        member = desk.member(owner, name)
        wallet = app.wallet_ref(owner, member)
        now = clock.now()

        def fund(
            conn: Connection, wallet: WalletRef = wallet, name: str = name, now: datetime = now
        ) -> None:
            granted = ledger.grant(
                conn, wallet, amount=1000, kind="paid", source="charge", actor="t", now=now
            )
            spent = ledger.spend(conn, wallet, amount=100, reference="r", actor="t", now=now)
            held = ledger.reserve(
                conn, wallet, amount=50, expires_in_seconds=600, reference=None, actor="t", now=now
            )
            ids[name] = (granted.journal_id, spent.journal_id, held.hold.id)

        db.write(fund)
    try:
        yield Scene(
            desk,
            service,
            other,
            desk.admin("cs"),
            alice_spend=ids["alice"][1],
            alice_grant=ids["alice"][0],
            bob_spend=ids["bob"][1],
            bob_hold=ids["bob"][2],
            zoe_spend=ids["zoe"][1],
        )
    finally:
        desk.close()


GOOD_GRANT = {"amount": "100", "cash_kind": "bonus", "reason": "goodwill"}


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"amount": "1.5"}, 422, "no decimals"),
        ({"amount": "1.0"}, 422, "no decimals"),
        ({"amount": "1,000"}, 422, "digits only"),
        ({"amount": "abc"}, 422, "digits only"),
        ({"amount": "1e3"}, 422, "digits only"),
        ({"amount": "0"}, 422, "above zero"),
        ({"amount": "000"}, 422, "above zero"),
        ({"amount": "-5"}, 422, "digits only"),
        ({"amount": ""}, 422, "Enter an amount"),
        ({"amount": "99999999999999999999"}, 422, "too large"),
        ({"amount": "9007199254740993"}, 422, "too large"),
        ({"amount": "\uff11\uff10\uff10\uff10"}, 422, "digits only"),  # full-width digits
        ({"reason": ""}, 422, "reason is required"),
        ({"reason": "   "}, 422, "reason is required"),
        ({"reason": "x" * 501}, 422, "500 characters"),
        ({"reason": "bad\x00byte"}, 422, "not allowed"),
        ({"cash_kind": "gold"}, 422, "Choose one"),
        ({"cash_kind": ""}, 422, "Choose one"),
        ({"expires_on": "2026-02-01"}, 422, "future"),
        ({"expires_on": "31/03/2026"}, 422, "YYYY-MM-DD"),
        ({"form_key": ""}, 422, "reload the page"),
        ({"form_key": "not-a-key"}, 422, "reload the page"),
    ],
)
def test_bad_grant_forms(scene: Scene, change: dict[str, str], status: int, message: str) -> None:
    page = member_path(scene.service, "alice")
    form = {**GOOD_GRANT, "form_key": scene.cs.form_key(page), **change}
    _refused(scene, page + "/grant", form, status, message)


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"amount": "1.5", "reason": "r"}, 422, "no decimals"),
        ({"amount": "5000", "reason": "r"}, 422, "not have enough"),
        ({"amount": "10"}, 422, "reason is required"),
        ({"amount": "10", "reason": "y" * 501}, 422, "500 characters"),
    ],
)
def test_bad_revoke_forms(scene: Scene, form: dict[str, str], status: int, message: str) -> None:
    page = member_path(scene.service, "alice")
    _refused(
        scene, page + "/revoke", {**form, "form_key": scene.cs.form_key(page)}, status, message
    )


@pytest.mark.parametrize(
    ("which", "reason", "status", "message"),
    [
        ("garbage", "r", 422, "not a valid identifier"),
        ("bob_spend", "r", 404, "No such transaction"),
        ("zoe_spend", "r", 404, "No such transaction"),
        ("unknown", "r", 404, "No such transaction"),
        ("alice_grant", "r", 409, "Only a spend"),
        ("alice_spend", "", 422, "reason is required"),
    ],
)
def test_bad_reversals(scene: Scene, which: str, reason: str, status: int, message: str) -> None:
    journal = {
        "garbage": "abc",
        "unknown": str(uuid7()),
        "bob_spend": str(scene.bob_spend),
        "zoe_spend": str(scene.zoe_spend),
        "alice_grant": str(scene.alice_grant),
        "alice_spend": str(scene.alice_spend),
    }[which]
    page = member_path(scene.service, "alice")
    _refused(scene, page + "/reverse", {"journal_id": journal, "reason": reason}, status, message)


@pytest.mark.parametrize(
    ("hold", "reason", "status", "message"),
    [
        ("bob", "r", 404, "No such hold"),
        ("unknown", "r", 404, "No such hold"),
        ("garbage", "r", 422, "not a valid identifier"),
        ("bob", "", 422, "reason is required"),
    ],
)
def test_bad_hold_releases(scene: Scene, hold: str, reason: str, status: int, message: str) -> None:
    hold_id = {"bob": str(scene.bob_hold), "unknown": str(uuid7()), "garbage": "xyz"}[hold]
    page = member_path(scene.service, "alice")
    _refused(scene, page + "/release-hold", {"hold_id": hold_id, "reason": reason}, status, message)


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"status": "closed", "reason": "r"}, 422, "Choose one"),
        ({"status": "suspended", "reason": ""}, 422, "reason is required"),
        ({"status": "active", "reason": "r"}, 409, "already"),
    ],
)
def test_bad_status_changes(scene: Scene, form: dict[str, str], status: int, message: str) -> None:
    page = member_path(scene.service, "alice")
    _refused(scene, page + "/status", form, status, message)


@pytest.mark.parametrize("action", ["grant", "revoke", "reverse", "release-hold", "status"])
@pytest.mark.parametrize("where", ["unknown member", "other service's member", "no such service"])
def test_unknown_members_are_not_found(scene: Scene, action: str, where: str) -> None:
    path = {
        "unknown member": member_path(scene.service, "nobody"),
        "other service's member": member_path(scene.service, "zoe"),
        "no such service": f"/admin/members/{uuid7()}/alice",
    }[where]
    form = {
        **GOOD_GRANT,
        "form_key": uuid7().hex,
        "journal_id": str(scene.zoe_spend),
        "hold_id": str(uuid7()),
        "status": "suspended",
    }
    before, audits = ledger_state(scene.desk.db), audit_count(scene.desk.db)
    response = scene.cs.post(f"{path}/{action}", form)
    assert response.status_code == 404, response.text
    assert 'data-testid="not-found"' in response.text
    assert ledger_state(scene.desk.db) == before
    assert audit_count(scene.desk.db) == audits


def test_pages_of_unknown_members_are_not_found(scene: Scene) -> None:
    for path in (
        member_path(scene.service, "zoe"),
        member_path(scene.service, "zoe") + "/history",
        "/admin/members/not-a-uuid/alice",
    ):
        assert scene.cs.get(path).status_code == 404


def test_a_post_without_csrf_changes_nothing(scene: Scene) -> None:
    page = member_path(scene.service, "alice")
    before, audits = ledger_state(scene.desk.db), audit_count(scene.desk.db)
    form = {**GOOD_GRANT, "form_key": scene.cs.form_key(page), "csrf_token": "forged"}
    response = scene.cs.client.post(page + "/grant", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert ledger_state(scene.desk.db) == before
    assert audit_count(scene.desk.db) == audits


def _refused(scene: Scene, path: str, form: dict[str, str], status: int, message: str) -> None:
    db = scene.desk.db
    before, audits = ledger_state(db), audit_count(db)
    response = scene.cs.post(path, form, headers={"Accept-Language": "en"})
    assert response.status_code == status, response.text
    assert 'data-testid="form-error"' in response.text
    assert message in response.text
    assert ledger_state(db) == before
    assert audit_count(db) == audits


def test_text_the_database_cannot_store_is_refused_not_a_500(scene: Scene) -> None:
    """NUL bytes (PostgreSQL refuses them) anywhere in a URL or form: 4xx, nothing changed."""
    db, cs, service = scene.desk.db, scene.cs, scene.service
    before, audits = ledger_state(db), audit_count(db)
    nul_member = f"/admin/members/{service.id}/al%00ice"
    assert cs.get(nul_member).status_code == 404
    assert cs.get(nul_member + "/history").status_code == 404
    form = {**GOOD_GRANT, "form_key": uuid7().hex}
    assert cs.post(nul_member + "/grant", form).status_code == 404
    search = cs.get("/admin/members", params={"service": str(service.id), "q": "a\x00"})
    assert search.status_code == 200
    assert 'data-testid="member-results-empty"' in search.text
    graded = cs.get("/admin/members", params={"grade": "\x00", "after": "\x00"})
    assert graded.status_code == 200
    page = member_path(service, "alice")
    assert cs.get(page, params={"kind": "\x00", "before": "\x00"}).status_code == 422
    operator = scene.desk.admin("operator")
    keys = f"/admin/services/{service.id}/keys"
    assert operator.post(keys + "/%00/revoke").status_code == 404
    assert operator.post(keys, {"label": "a\x00b"}).status_code == 422
    assert operator.post("/admin/approvals/%00/reject", {"reason": "x"}).status_code == 422
    assert (ledger_state(db), audit_count(db)) == (before, audits + 1)  # + the operator's sign-in
