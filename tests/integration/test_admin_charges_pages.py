"""The admin charge pages: search, the charge page, and the refund form (both databases)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.payments import charging
from coffer.payments.charges import Charge
from coffer.payments.charging import PaymentsContext
from coffer.payments.gateways.outcomes import Cancelled
from coffer.tenancy.model import Service
from coffer.web.admin.charges import search_page
from tests.integration.charge_support import (
    available,
    charge,
    connect_sandbox,
    counts,
    flag,
    make_charge,
    refunds_of,
    spend,
)
from tests.integration.desk_support import (
    Admin,
    Desk,
    audit_count,
    audit_rows,
    hidden,
    ledger_state,
    member_path,
)
from tests.ledger_helpers import assert_invariants


@dataclass
class Scene:
    desk: Desk
    service: Service
    other: Service
    paid: Charge
    waiting: Charge
    failed: Charge
    zoe: Charge


@pytest.fixture
def scene(db: Database, clock: ManualClock) -> Iterator[Scene]:
    desk = Desk(db, clock)
    service, other = desk.service("Acme"), desk.service("Other")
    for owner in (service, other):
        connect_sandbox(db, clock, owner)
    desk.member(service, "alice")
    desk.member(service, "bob")
    desk.member(other, "zoe")
    va = {"method": "virtual_account", "status": "waiting_for_deposit"}
    try:
        yield Scene(
            desk,
            service,
            other,
            paid=make_charge(db, clock, service, "alice", amount=10_000),
            waiting=make_charge(db, clock, service, "bob", amount=30_000, **va),
            failed=make_charge(db, clock, service, "bob", amount=5_000, status="failed"),
            zoe=make_charge(db, clock, other, "zoe", amount=7_000),
        )
    finally:
        desk.close()


def sign_in(scene: Scene, role: str) -> Admin:
    """An admin of ``role`` reading the pages in English."""
    admin = scene.desk.admin(role)
    admin.client.headers["Accept-Language"] = "en"
    return admin


def page_of(service: Service, found: Charge) -> str:
    return f"/admin/charges/{service.id}/{found.id}"


def rows(html: str) -> list[str]:
    return re.findall(r'data-testid="charge-row-([0-9a-f-]+)"', html)


def test_search_lists_the_service_charges_newest_first(scene: Scene) -> None:
    viewer = sign_in(scene, "viewer")
    page = viewer.get(f"/admin/charges?service={scene.service.id}")
    assert page.status_code == 200
    assert rows(page.text) == [str(c.id) for c in (scene.failed, scene.waiting, scene.paid)]
    assert str(scene.zoe.id) not in page.text  # another service's charge
    assert 'href="/admin/charges"' in page.text  # the nav entry


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("member=alice", ["paid"]),
        ("member=bob", ["failed", "waiting"]),
        ("status=waiting_for_deposit", ["waiting"]),
        ("method=card", ["failed", "paid"]),
        ("method=virtual_account&member=alice", []),
        ("attention=1", ["failed"]),
        ("member=nobody", []),
        ("status=bogus", ["failed", "waiting", "paid"]),  # a value no charge has is no filter
    ],
)
def test_search_filters(db: Database, clock: ManualClock, scene: Scene, query: str,
                        expected: list[str]) -> None:  # fmt: skip
    flag(db, clock, scene.failed, "return_mismatch")
    cs = sign_in(scene, "cs")
    page = cs.get(f"/admin/charges?service={scene.service.id}&{query}")
    assert page.status_code == 200
    assert rows(page.text) == [str(getattr(scene, name).id) for name in expected]
    if query == "member=nobody":
        assert "No such member in this service." in page.text


def test_search_pages_with_a_cursor(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_page, "SEARCH_PAGE", 2)
    cs = sign_in(scene, "cs")
    first = cs.get(f"/admin/charges?service={scene.service.id}")
    assert rows(first.text) == [str(scene.failed.id), str(scene.waiting.id)]
    more = re.search(r'href="([^"]+)" data-testid="charge-results-next"', first.text)
    assert more is not None
    second = cs.get(more.group(1).replace("&amp;", "&"))
    assert rows(second.text) == [str(scene.paid.id)]
    assert 'data-testid="charge-results-next"' not in second.text
    assert 'data-testid="charge-results-first"' in second.text


def test_the_charge_page_shows_amounts_timeline_and_refundable(
    db: Database, clock: ManualClock, scene: Scene
) -> None:
    spend(db, clock, scene.service, "alice", 3_000)
    viewer = sign_in(scene, "viewer")
    page = viewer.get(page_of(scene.service, scene.paid))
    assert page.status_code == 200
    text = page.text
    assert 'data-status="approved"' in text
    assert scene.paid.order_id in text
    assert re.search(r'data-testid="charge-refundable">.*?₩7,000', text, re.S)
    for event in ("created", "approved"):
        assert f'data-event="{event}"' in text
    assert "<code>created</code> → <code>approved</code>" in text
    assert 'data-testid="refund-form"' not in text  # a viewer may look, not refund
    assert 'data-testid="no-refunds"' in text


def test_virtual_account_failure_and_attention_are_shown(
    db: Database, clock: ManualClock, scene: Scene
) -> None:
    cs = sign_in(scene, "cs")
    waiting = cs.get(page_of(scene.service, scene.waiting)).text
    assert "110-222-333444" in waiting
    assert 'data-testid="refund-form"' not in waiting  # nothing credited, nothing to refund
    flag(db, clock, scene.failed, "janitor_gave_up")
    failed = cs.get(page_of(scene.service, scene.failed)).text
    assert "REJECT_CARD_PAYMENT" in failed
    assert "the card issuer declined" in failed
    attention = re.search(r'data-testid="charge-attention"[^>]*>(.*?)</article>', failed, re.S)
    assert attention is not None
    assert "could not learn the outcome" in attention.group(1)


def test_another_services_charge_and_bad_ids_are_404(scene: Scene) -> None:
    operator = sign_in(scene, "operator")
    for path in (
        page_of(scene.service, scene.zoe),
        f"/admin/charges/{scene.service.id}/not-an-id",
        f"/admin/charges/not-a-service/{scene.paid.id}",
    ):
        response = operator.get(path)
        assert response.status_code == 404, path
        assert 'data-testid="not-found"' in response.text


def refund_form(admin: Admin, path: str) -> dict[str, str]:
    html = admin.get(path).text
    return {"form_key": hidden(html, "form_key"), "amount": hidden_amount(html)}


def hidden_amount(html: str) -> str:
    found = re.search(r'id="refund-amount"[^>]*value="([^"]*)"', html)
    assert found, "no refund amount on the page"
    return found.group(1)


def test_refund_part_of_the_unspent_cash(db: Database, clock: ManualClock, scene: Scene) -> None:
    spend(db, clock, scene.service, "alice", 3_000)
    operator = sign_in(scene, "operator")
    path = page_of(scene.service, scene.paid)
    form = refund_form(operator, path)
    assert form["amount"] == "7000"  # all the unspent cash by default
    response = operator.post(
        path + "/refund", {**form, "amount": "4000", "reason": "customer asked"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == path
    (refund,) = refunds_of(db, scene.paid.id)
    assert (refund.amount, refund.status, refund.kind) == (4_000, "pending", "pg_cancel")
    assert refund.actor == "admin:operator@example.com"
    assert available(db, clock, scene.service, "alice") == 3_000
    (row,) = audit_rows(db, "charges.refund")
    assert (row["target_type"], row["target_id"]) == ("charge", str(scene.paid.id))
    assert (row["before"]["refundable"], row["after"]["refundable"]) == (7_000, 3_000)
    assert (row["after"]["refund_amount"], row["reason"]) == (4_000, "customer asked")
    shown = operator.get(path).text
    assert "left the member&#39;s cash" in shown or "left the member's cash" in shown
    assert f'data-testid="refund-{refund.id}" data-status="pending"' in shown
    assert 'data-testid="refund-in-flight"' in shown
    assert_invariants(db)


def test_a_double_submitted_refund_form_refunds_once(
    db: Database, clock: ManualClock, scene: Scene
) -> None:
    cs = sign_in(scene, "cs")
    path = page_of(scene.service, scene.paid)
    form = {**refund_form(cs, path), "amount": "1000", "reason": "twice"}
    assert cs.post(path + "/refund", form).status_code == 303
    assert cs.post(path + "/refund", form).status_code == 303
    assert [r.amount for r in refunds_of(db, scene.paid.id)] == [1_000]
    assert audit_count(db, "charges.refund") == 1


@pytest.mark.parametrize(
    ("change", "status", "field", "message"),
    [
        ({"amount": "8000"}, 409, "amount", "more than what is left unspent"),
        ({"amount": "12.5"}, 422, "amount", "no decimals"),
        ({"amount": "0"}, 422, "amount", "above zero"),
        ({"reason": "  "}, 422, "reason", "A reason is required."),
        ({"form_key": "bogus"}, 422, "form_key", "This form has expired"),
    ],
)
def test_bad_refund_input_shows_the_error_and_changes_nothing(
    db: Database,
    clock: ManualClock,
    scene: Scene,
    change: dict[str, str],
    status: int,
    field: str,
    message: str,
) -> None:
    spend(db, clock, scene.service, "alice", 3_000)
    cs = sign_in(scene, "cs")
    path = page_of(scene.service, scene.paid)
    form = {**refund_form(cs, path), "reason": "asked", **change}
    before = (ledger_state(db), counts(db), audit_count(db))
    response = cs.post(path + "/refund", form)
    assert response.status_code == status, response.text
    error = re.search(rf'data-testid="refund-error-{field}">(.*?)</small>', response.text, re.S)
    assert error is not None, response.text
    assert message in error.group(1).replace("&#39;", "'")
    assert 'data-testid="refund-form"' in response.text
    assert (ledger_state(db), counts(db), audit_count(db)) == before


def test_a_refund_in_flight_refuses_another_and_changes_nothing(
    db: Database, clock: ManualClock, scene: Scene
) -> None:
    cs = sign_in(scene, "cs")
    path = page_of(scene.service, scene.paid)
    first = {**refund_form(cs, path), "amount": "2000", "reason": "first"}
    assert cs.post(path + "/refund", first).status_code == 303
    second = {**refund_form(cs, path), "reason": "second"}
    before = (ledger_state(db), counts(db), audit_count(db))
    response = cs.post(path + "/refund", second)
    assert response.status_code == 409
    assert 'data-testid="refund-error-form"' in response.text
    assert "still with the PG" in response.text
    assert (ledger_state(db), counts(db), audit_count(db)) == before


def test_a_charge_not_credited_cannot_be_refunded(db: Database, scene: Scene) -> None:
    cs = sign_in(scene, "cs")
    path = page_of(scene.service, scene.failed)
    before = (ledger_state(db), counts(db))
    response = cs.post(path + "/refund", {"form_key": "a" * 32, "amount": "1", "reason": "x"})
    assert response.status_code == 409
    assert "Only an approved charge can be refunded." in response.text
    assert (ledger_state(db), counts(db)) == before


def test_refund_of_another_services_charge_is_404(db: Database, scene: Scene) -> None:
    cs = sign_in(scene, "cs")
    before = (ledger_state(db), counts(db), audit_count(db))
    response = cs.post(
        page_of(scene.service, scene.zoe) + "/refund",
        {"form_key": "b" * 32, "amount": "1000", "reason": "x"},
    )
    assert response.status_code == 404
    assert (ledger_state(db), counts(db), audit_count(db)) == before


@pytest.mark.parametrize(
    ("role", "view", "refund"),
    [
        ("superuser", True, True),
        ("operator", True, True),
        ("cs", True, True),
        ("accountant", True, False),
        ("viewer", True, False),
        ("marketer", False, False),
    ],
)
def test_permissions(db: Database, scene: Scene, role: str, view: bool, refund: bool) -> None:
    admin = sign_in(scene, role)
    path = page_of(scene.service, scene.paid)
    page = admin.get(path)
    assert page.status_code == (200 if view else 403)
    assert ('data-testid="refund-form"' in page.text) is refund
    assert (admin.get("/admin/charges").status_code == 200) is view
    assert ('href="/admin/charges"' in admin.get("/admin/members").text) is view
    before = (ledger_state(db), counts(db))
    posted = admin.post(
        path + "/refund", {"form_key": "c" * 32, "amount": "1000", "reason": "perm"}
    )
    if refund:
        assert posted.status_code == 303
    else:
        assert posted.status_code == 403
        assert (ledger_state(db), counts(db)) == before


def test_the_member_page_lists_recent_charges_and_links_to_the_search(scene: Scene) -> None:
    cs = sign_in(scene, "cs")
    page = cs.get(member_path(scene.service, "bob")).text
    table = re.search(r'data-testid="member-charges-table">(.*?)</table>', page, re.S)
    assert table is not None
    assert page_of(scene.service, scene.waiting) in table.group(1)
    assert page_of(scene.service, scene.failed) in table.group(1)
    assert page_of(scene.service, scene.paid) not in page  # alice's
    assert f"/admin/charges?service={scene.service.id}&amp;member=bob" in page
    marketer = sign_in(scene, "marketer")
    assert (
        'data-testid="member-charges"' not in marketer.get(member_path(scene.service, "bob")).text
    )


class CancelsAnything:
    """A PG that agrees to every cancel (the live browser test uses the sandbox PG itself)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def cancel(self, payment_key: str, *, amount: int, reason: str) -> Cancelled:
        return Cancelled(payment_key, 0, amount, f"tx_{reason}", self.clock.now())


def test_the_charge_page_shows_a_partial_cancel_after_the_pg_cancel(
    db: Database, clock: ManualClock, scene: Scene
) -> None:
    cs = sign_in(scene, "cs")
    path = page_of(scene.service, scene.paid)
    form = {**refund_form(cs, path), "amount": "4000", "reason": "part"}
    assert cs.post(path + "/refund", form).status_code == 303
    (refund,) = refunds_of(db, scene.paid.id)
    pg = CancelsAnything(clock)
    ctx = PaymentsContext(db, clock, lambda _contract: pg, app.resolve_wallet)  # type: ignore[arg-type,return-value]
    charging.process_refund(ctx, refund.id)
    assert charge(db, scene.paid.id).status == "partially_cancelled"
    page = cs.get(path).text
    assert 'data-status="partially_cancelled"' in page
    assert f'data-testid="refund-{refund.id}" data-status="done"' in page
    assert re.search(r'data-testid="charge-refunded">.*?₩4,000', page, re.S)
    assert_invariants(db)
