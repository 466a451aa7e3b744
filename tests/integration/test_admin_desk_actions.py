"""The CS actions on the member page: each moves exactly what it says and writes one audit row."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from tests.integration.desk_support import (
    Admin,
    Desk,
    audit_count,
    audit_rows,
    ledger_state,
    member_path,
)
from tests.ledger_helpers import assert_invariants


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
def cs(desk: Desk) -> Admin:
    return desk.admin("cs")


def _balance(desk: Desk, service: Service, external_id: str) -> tuple[int, int, int]:
    def read(conn: Connection) -> tuple[int, int, int]:
        member = tenancy.get_member(conn, service.id, external_id)
        found = queries.balance(conn, member.id, desk.clock.now())
        return found.paid, found.bonus, found.held

    return desk.db.read(read)


def _fund(desk: Desk, service: Service, external_id: str, paid: int = 0, bonus: int = 0) -> None:
    def work(conn: Connection) -> None:
        _member, wallet = app.member_wallet(conn, service, external_id, spending=False)
        for kind, amount in (("paid", paid), ("bonus", bonus)):
            if amount:
                ledger.grant(
                    conn,
                    wallet,
                    amount=amount,
                    kind=kind,
                    source="charge" if kind == "paid" else "event",
                    actor="test",
                    now=desk.clock.now(),
                )

    desk.db.write(work)


def test_grant_bonus_with_expiry_and_reason(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    page = member_path(service, "alice")
    response = cs.post(
        page + "/grant",
        {
            "amount": "1500",
            "cash_kind": "bonus",
            "expires_on": "2026-03-31",
            "reason": "compensation for the outage",
            "form_key": cs.form_key(page),
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == page
    shown = cs.get(page)
    assert "₩1,500" in shown.text
    assert "compensation for the outage" in shown.text
    assert _balance(desk, service, "alice") == (0, 1500, 0)

    lots = desk.db.read(
        lambda conn: queries.member_lots(conn, tenancy.get_member(conn, service.id, "alice").id)
    )
    assert len(lots) == 1
    assert lots[0].source == "admin"
    assert lots[0].reason == "compensation for the outage"
    # Valid through 31 March in Seoul: expires at midnight starting 1 April, 15:00 UTC.
    assert lots[0].expires_at == datetime(2026, 3, 31, 15, tzinfo=UTC)

    rows = audit_rows(desk.db, "cash.grant")
    assert audit_count(desk.db) == 1 + _logins(desk)
    assert len(rows) == 1
    row = rows[0]
    assert row["actor"] == "admin:cs@example.com"
    assert row["reason"] == "compensation for the outage"
    assert row["service_id"] == service.id
    assert row["before"]["bonus"] == 0
    assert row["after"]["bonus"] == 1500
    assert row["after"]["amount"] == 1500
    assert row["after"]["cash_kind"] == "bonus"
    history = desk.db.read(
        lambda conn: queries.history(conn, tenancy.get_member(conn, service.id, "alice").id)
    )
    assert history.entries[0].actor == "admin:cs@example.com"
    assert_invariants(desk.db)


def test_grant_paid_cash(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    page = member_path(service, "alice")
    form = {"amount": "700", "cash_kind": "paid", "reason": "failed charge"}
    response = cs.post(page + "/grant", {**form, "form_key": cs.form_key(page)})
    assert response.status_code == 303, response.text
    assert _balance(desk, service, "alice") == (700, 0, 0)
    assert audit_count(desk.db, "cash.grant") == 1


def test_a_grant_form_sent_twice_grants_once(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    page = member_path(service, "alice")
    form = {
        "amount": "100",
        "cash_kind": "bonus",
        "reason": "goodwill",
        "form_key": cs.form_key(page),
    }
    assert cs.post(page + "/grant", form).status_code == 303
    again = cs.post(page + "/grant", form)
    assert again.status_code == 303
    assert _balance(desk, service, "alice") == (0, 100, 0)
    assert audit_count(desk.db, "cash.grant") == 1


def test_usd_amounts_are_exact_minor_units(desk: Desk, cs: Admin) -> None:
    service = desk.service("Dollars", currency="USD")
    desk.member(service, "ann")
    page = member_path(service, "ann")
    form = {"amount": "12.3", "cash_kind": "bonus", "reason": "r", "form_key": cs.form_key(page)}
    assert cs.post(page + "/grant", form).status_code == 303
    assert _balance(desk, service, "ann") == (0, 1230, 0)


def test_revoke_is_a_spend_with_the_reason_as_memo(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    _fund(desk, service, "alice", paid=1000, bonus=300)
    page = member_path(service, "alice")
    response = cs.post(
        page + "/revoke",
        {"amount": "500", "reason": "fraudulent bonus", "form_key": cs.form_key(page)},
    )
    assert response.status_code == 303, response.text
    # Bonus first: 300 bonus then 200 paid.
    assert _balance(desk, service, "alice") == (800, 0, 0)
    entry = desk.db.read(
        lambda conn: queries.history(conn, tenancy.get_member(conn, service.id, "alice").id)
    ).entries[0]
    assert (entry.kind, entry.amount, entry.reference, entry.memo) == (
        "spend",
        500,
        "admin-revoke",
        "fraudulent bonus",
    )
    rows = audit_rows(desk.db, "cash.revoke")
    assert len(rows) == 1
    assert rows[0]["before"]["paid"] == 1000
    assert rows[0]["after"]["paid"] == 800
    assert rows[0]["after"]["journal_id"] == str(entry.id)
    assert_invariants(desk.db)


def test_revoke_works_on_a_suspended_member(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "sam")
    _fund(desk, service, "sam", paid=1000)
    desk.db.write(
        lambda c: tenancy.set_member_status(c, service.id, "sam", "suspended", now=desk.clock.now())
    )
    page = member_path(service, "sam")
    form = {"amount": "1000", "reason": "chargeback", "form_key": cs.form_key(page)}
    assert cs.post(page + "/revoke", form).status_code == 303
    assert _balance(desk, service, "sam") == (0, 0, 0)


def test_reverse_a_spend(desk: Desk, service: Service, cs: Admin) -> None:
    member = desk.member(service, "alice")
    _fund(desk, service, "alice", paid=1000)
    wallet = app.wallet_ref(service, member)
    spent = desk.db.write(
        lambda conn: ledger.spend(
            conn, wallet, amount=400, reference="item-1", actor="test", now=desk.clock.now()
        )
    )
    page = member_path(service, "alice")
    assert f'data-testid="reverse-form-{spent.journal_id}"' in cs.get(page).text
    response = cs.post(
        page + "/reverse", {"journal_id": str(spent.journal_id), "reason": "item never delivered"}
    )
    assert response.status_code == 303, response.text
    assert _balance(desk, service, "alice") == (1000, 0, 0)
    rows = audit_rows(desk.db, "cash.reverse")
    assert len(rows) == 1
    assert rows[0]["after"]["reverses"] == str(spent.journal_id)
    assert rows[0]["reason"] == "item never delivered"
    shown = cs.get(page).text
    assert f'data-testid="reversed-{spent.journal_id}"' in shown
    assert f'data-testid="reverse-form-{spent.journal_id}"' not in shown

    twice = cs.post(
        page + "/reverse",
        {"journal_id": str(spent.journal_id), "reason": "again"},
        headers={"Accept-Language": "en"},
    )
    assert twice.status_code == 409
    assert "already been reversed" in twice.text
    assert audit_count(desk.db, "cash.reverse") == 1
    assert_invariants(desk.db)


def test_release_a_hold(desk: Desk, service: Service, cs: Admin) -> None:
    member = desk.member(service, "alice")
    _fund(desk, service, "alice", paid=1000)
    wallet = app.wallet_ref(service, member)
    held = desk.db.write(
        lambda conn: ledger.reserve(
            conn,
            wallet,
            amount=600,
            expires_in_seconds=3600,
            reference="match-1",
            actor="test",
            now=desk.clock.now(),
        )
    )
    page = member_path(service, "alice")
    assert f'data-testid="release-form-{held.hold.id}"' in cs.get(page).text
    assert _balance(desk, service, "alice") == (400, 0, 600)
    response = cs.post(page + "/release-hold", {"hold_id": str(held.hold.id), "reason": "stuck"})
    assert response.status_code == 303, response.text
    assert _balance(desk, service, "alice") == (1000, 0, 0)
    rows = audit_rows(desk.db, "holds.release")
    assert len(rows) == 1
    assert rows[0]["before"]["hold_status"] == "active"
    assert rows[0]["after"]["hold_status"] == "released"
    assert_invariants(desk.db)


def test_suspend_and_reactivate(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    page = member_path(service, "alice")
    response = cs.post(page + "/status", {"status": "suspended", "reason": "abuse report"})
    assert response.status_code == 303, response.text
    assert 'data-status="suspended"' in cs.get(page).text
    assert audit_rows(desk.db, "members.suspend")[0]["after"] == {
        "external_id": "alice",
        "status": "suspended",
    }
    again = cs.post(page + "/status", {"status": "suspended", "reason": "twice"})
    assert again.status_code == 409
    response = cs.post(page + "/status", {"status": "active", "reason": "cleared"})
    assert response.status_code == 303
    assert desk.db.read(lambda c: tenancy.get_member(c, service.id, "alice")).status == "active"
    assert audit_count(desk.db, "members.suspend") == 1
    assert audit_count(desk.db, "members.reactivate") == 1


def test_a_closed_member_gets_no_cash(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "cleo")
    desk.db.write(
        lambda c: tenancy.set_member_status(c, service.id, "cleo", "closed", now=desk.clock.now())
    )
    page = member_path(service, "cleo")
    before = ledger_state(desk.db)
    audits = audit_count(desk.db)
    form = {"amount": "100", "cash_kind": "bonus", "reason": "r", "form_key": cs.form_key(page)}
    refused = cs.post(page + "/grant", form)
    assert refused.status_code == 409
    assert "closed" in refused.text
    assert ledger_state(desk.db) == before
    assert audit_count(desk.db) == audits


def test_the_flash_says_what_happened(desk: Desk, service: Service, cs: Admin) -> None:
    desk.member(service, "alice")
    page = member_path(service, "alice")
    english = {"Accept-Language": "en"}
    form = {"amount": "2000", "cash_kind": "bonus", "reason": "r", "form_key": cs.form_key(page)}
    cs.post(page + "/grant", form, headers=english)
    assert "Granted ₩2,000 of bonus cash." in cs.get(page, headers=english).text
    assert "Granted ₩2,000 of bonus cash." not in cs.get(page, headers=english).text


def test_history_filters_and_pages(desk: Desk, service: Service) -> None:
    member = desk.member(service, "pat")
    wallet = app.wallet_ref(service, member)
    for day in range(25):
        desk.clock.set(datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=day))
        desk.db.write(
            lambda conn: ledger.grant(
                conn,
                wallet,
                amount=10,
                kind="paid",
                source="charge",
                actor="t",
                now=desk.clock.now(),
            )
        )
    desk.db.write(
        lambda conn: ledger.spend(
            conn, wallet, amount=5, reference="x", actor="t", now=desk.clock.now()
        )
    )
    page = member_path(service, "pat")
    cs = desk.admin("cs")  # signed in now: the clock moved past any earlier session
    first = cs.get(page + "/history", headers={"HX-Request": "true"})
    assert first.status_code == 200
    assert first.text.count('data-kind="') == 20
    assert "HX-Push-Url" in first.headers
    older = cs.get(page + "/history", params={"before": _cursor(first.text)})
    assert older.text.count('data-kind="') == 6
    spends = cs.get(page + "/history", params={"kind": "spend"})
    assert spends.text.count('data-kind="spend"') == 1
    assert 'data-kind="grant"' not in spends.text
    dated = cs.get(page, params={"date_from": "2026-03-05", "date_to": "2026-03-06"})
    assert dated.status_code == 200
    assert dated.text.count('data-kind="grant"') == 2
    bad = cs.get(page, params={"date_from": "tomorrow"})
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.text


def _cursor(html: str) -> str:
    """The ``before`` cursor of the "Older" link."""
    found = re.search(
        r'hx-get="[^"]*before=([0-9a-f-]{36})[^"]*"[^>]*data-testid="history-older"', html
    )
    assert found, "no Older link"
    return found.group(1)


def _logins(desk: Desk) -> int:
    return audit_count(desk.db, "admin.login")
