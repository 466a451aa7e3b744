"""Grants at or above the service's threshold wait for a second admin, and happen once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from coffer.approvals import service as approvals
from coffer.approvals.model import GrantApproval
from coffer.approvals.tables import grant_approvals
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
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

THRESHOLD = 10_000


@pytest.fixture
def desk(db: Database, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk(db, clock)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    service = desk.service("Acme", threshold=THRESHOLD)
    desk.member(service, "alice")
    return service


def _bonus(desk: Desk, service: Service) -> int:
    return desk.db.read(
        lambda c: (
            queries.balance(
                c, tenancy.get_member(c, service.id, "alice").id, desk.clock.now()
            ).bonus
        )
    )


def _request(admin: Admin, service: Service, amount: str, reason: str = "vip apology") -> None:
    page = member_path(service, "alice")
    form = {
        "amount": amount,
        "cash_kind": "bonus",
        "reason": reason,
        "form_key": admin.form_key(page),
    }
    response = admin.post(page + "/grant", form)
    assert response.status_code == 303, response.text


def _pending(desk: Desk) -> list[GrantApproval]:
    found, _cursor = desk.db.read(lambda c: approvals.list_approvals(c, status="pending"))
    return found


def test_below_the_threshold_grants_at_once(desk: Desk, service: Service) -> None:
    _request(desk.admin("cs"), service, str(THRESHOLD - 1))
    assert _bonus(desk, service) == THRESHOLD - 1
    assert _pending(desk) == []


def test_at_the_threshold_a_grant_waits_then_a_second_admin_approves(
    desk: Desk, service: Service
) -> None:
    cs = desk.admin("cs")
    _request(cs, service, str(THRESHOLD))
    assert _bonus(desk, service) == 0
    [pending] = _pending(desk)
    assert (pending.amount, pending.cash_kind, pending.reason) == (
        THRESHOLD,
        "bonus",
        "vip apology",
    )
    assert pending.requested_by == cs.id
    assert pending.requested_by_email == "cs@example.com"
    requested = audit_rows(desk.db, "cash.grant_requested")
    assert len(requested) == 1
    assert requested[0]["target_id"] == str(pending.id)
    assert audit_count(desk.db, "cash.grant") == 0
    assert (
        f'data-testid="pending-approval-{pending.id}"' in cs.get(member_path(service, "alice")).text
    )

    operator = desk.admin("operator")
    listing = operator.get(f"/admin/approvals?service={service.id}")
    assert f'data-testid="approve-form-{pending.id}"' in listing.text
    response = operator.post(f"/admin/approvals/{pending.id}/approve", {"service": str(service.id)})
    assert response.status_code == 303, response.text
    assert _bonus(desk, service) == THRESHOLD
    decided = desk.db.read(lambda c: approvals.get_approval(c, pending.id))
    assert decided.status == "approved"
    assert decided.decided_by == operator.id
    assert decided.journal_id is not None
    approved = audit_rows(desk.db, "approvals.approve")
    assert len(approved) == 1
    assert approved[0]["actor"] == "admin:operator@example.com"
    assert approved[0]["after"]["journal_id"] == str(decided.journal_id)
    history = desk.db.read(
        lambda c: queries.history(c, tenancy.get_member(c, service.id, "alice").id)
    )
    assert [(e.kind, e.amount) for e in history.entries] == [("grant", THRESHOLD)]
    assert_invariants(desk.db)


def test_the_requester_cannot_approve_their_own_grant(desk: Desk, service: Service) -> None:
    operator = desk.admin("operator")
    _request(operator, service, "50000")
    [pending] = _pending(desk)
    listing = operator.get(f"/admin/approvals?service={service.id}")
    assert f'data-testid="approval-own-{pending.id}"' in listing.text
    assert f'data-testid="approve-form-{pending.id}"' not in listing.text
    before, audits = ledger_state(desk.db), audit_count(desk.db)
    refused = operator.post(
        f"/admin/approvals/{pending.id}/approve", headers={"Accept-Language": "en"}
    )
    assert refused.status_code == 403
    assert "You cannot approve your own request." in refused.text
    assert ledger_state(desk.db) == before
    assert audit_count(desk.db) == audits
    assert _pending(desk)[0].id == pending.id


def test_the_database_refuses_a_self_approval_too(desk: Desk, service: Service) -> None:
    operator = desk.admin("operator")
    _request(operator, service, "50000")
    [pending] = _pending(desk)
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        desk.db.write(
            lambda c: c.execute(
                grant_approvals.update()
                .where(grant_approvals.c.id == pending.id)
                .values(status="approved", decided_by=operator.id, decided_at=desk.clock.now())
            )
        )


def test_a_role_without_approvals_decide_cannot_approve(desk: Desk, service: Service) -> None:
    _request(desk.admin("operator"), service, "50000")
    [pending] = _pending(desk)
    before = ledger_state(desk.db)
    for role in ("cs", "accountant", "viewer", "marketer"):
        response = desk.admin(role).post(f"/admin/approvals/{pending.id}/approve")
        assert response.status_code == 403, role
    assert ledger_state(desk.db) == before


def test_a_double_approve_grants_once(desk: Desk, service: Service) -> None:
    _request(desk.admin("cs"), service, "20000")
    [pending] = _pending(desk)
    first, second = desk.admin("operator"), desk.admin("superuser", "boss@example.com")
    assert first.post(f"/admin/approvals/{pending.id}/approve").status_code == 303
    again = first.post(f"/admin/approvals/{pending.id}/approve", headers={"Accept-Language": "en"})
    assert again.status_code == 409
    assert "already been decided" in again.text
    other = second.post(f"/admin/approvals/{pending.id}/approve")
    assert other.status_code == 409
    assert _bonus(desk, service) == 20_000
    assert audit_count(desk.db, "approvals.approve") == 1
    assert audit_count(desk.db, "approvals.reject") == 0


def test_concurrent_approvals_grant_once(desk: Desk, service: Service) -> None:
    _request(desk.admin("cs"), service, "30000")
    [pending] = _pending(desk)
    deciders = [desk.admin("operator"), desk.admin("superuser", "boss@example.com")]
    results: list[int] = []
    start = threading.Barrier(len(deciders))

    def approve(admin: Admin) -> None:
        start.wait()
        results.append(admin.post(f"/admin/approvals/{pending.id}/approve").status_code)

    threads = [threading.Thread(target=approve, args=(admin,)) for admin in deciders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [303, 409]
    assert _bonus(desk, service) == 30_000
    assert audit_count(desk.db, "approvals.approve") == 1
    assert_invariants(desk.db)


def test_reject_needs_a_reason_and_grants_nothing(desk: Desk, service: Service) -> None:
    _request(desk.admin("cs"), service, "15000")
    [pending] = _pending(desk)
    operator = desk.admin("operator")
    before, audits = ledger_state(desk.db), audit_count(desk.db)
    missing = operator.post(f"/admin/approvals/{pending.id}/reject", {"reason": " "})
    assert missing.status_code == 422
    assert 'data-testid="form-error"' in missing.text
    assert (ledger_state(desk.db), audit_count(desk.db)) == (before, audits)

    response = operator.post(f"/admin/approvals/{pending.id}/reject", {"reason": "not justified"})
    assert response.status_code == 303, response.text
    decided = desk.db.read(lambda c: approvals.get_approval(c, pending.id))
    assert (decided.status, decided.decision_reason, decided.journal_id) == (
        "rejected",
        "not justified",
        None,
    )
    assert _bonus(desk, service) == 0
    rows = audit_rows(desk.db, "approvals.reject")
    assert len(rows) == 1
    assert rows[0]["reason"] == "not justified"
    late = operator.post(f"/admin/approvals/{pending.id}/approve")
    assert late.status_code == 409
    assert _bonus(desk, service) == 0
    listing = operator.get(f"/admin/approvals?service={service.id}&status=rejected")
    assert f'data-testid="approval-{pending.id}"' in listing.text


def test_an_approval_of_a_closed_member_stays_pending(desk: Desk, service: Service) -> None:
    _request(desk.admin("cs"), service, "15000")
    [pending] = _pending(desk)
    desk.db.write(
        lambda c: tenancy.set_member_status(c, service.id, "alice", "closed", now=desk.clock.now())
    )
    response = desk.admin("operator").post(f"/admin/approvals/{pending.id}/approve")
    assert response.status_code == 409
    assert desk.db.read(lambda c: approvals.get_approval(c, pending.id)).status == "pending"
    assert audit_count(desk.db, "approvals.approve") == 0


def test_unknown_approvals(desk: Desk, service: Service) -> None:
    operator = desk.admin("operator")
    for target in ("not-an-id", "01890000-0000-7000-8000-000000000000"):
        response = operator.post(f"/admin/approvals/{target}/approve")
        assert response.status_code in (404, 422), response.text
    rows = desk.db.read(lambda c: c.execute(select(grant_approvals)).all())
    assert rows == []
