"""The CS desk's actions on a member, each one database transaction with one audit row.

Each function runs in the caller's write transaction: the ledger change (or the approval
request), then :func:`coffer.audit.service.record` last, so the audit row exists exactly when
the change does. Audit rows target the member (``member:<id>``) and carry the balance before
and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.approvals import service as approvals
from coffer.approvals.model import GrantApproval
from coffer.audit import service as audit
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.ledger import queries, store
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
from coffer.web.admin.desk.operator import Operator

#: The spend reference of cash an admin takes back.
REVOKE_REFERENCE = "admin-revoke"


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """Either the grant's journal, or the approval request it is waiting on."""

    journal_id: UUID | None = None
    approval_id: UUID | None = None


def balance_snapshot(conn: Connection, member: Member, now: datetime) -> dict[str, Any]:
    found = queries.balance(conn, member.id, now)
    return {"paid": found.paid, "bonus": found.bonus, "held": found.held}


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service: Service,
    member: Member,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str,
    now: datetime,
) -> None:
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type="member",
        target_id=str(member.id),
        service_id=service.id,
        before={"external_id": member.external_id, **before},
        after={"external_id": member.external_id, **after},
        reason=reason,
        address=who.address,
        now=now,
    )


def grant(
    conn: Connection,
    service: Service,
    external_id: str,
    *,
    amount: int,
    kind: str,
    reason: str,
    expires_at: datetime | None,
    who: Operator,
    now: datetime,
) -> GrantOutcome:
    """Grant cash now, or, at or above the service's threshold, ask for a second admin."""
    member, wallet = app.member_wallet(conn, service, external_id, spending=False)
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("invalid_expiry", "expires_at must be in the future.")
    if service.grant_needs_approval(amount):
        approval = approvals.request_grant(
            conn,
            service_id=service.id,
            member_id=member.id,
            member_external_id=member.external_id,
            amount=amount,
            currency=service.currency,
            cash_kind=kind,
            reason=reason,
            expires_at=expires_at,
            requested_by=who.admin_id,
            requested_by_email=who.email,
            now=now,
        )
        audit.record(
            conn,
            actor=who.audit_actor,
            action="cash.grant_requested",
            target_type="grant_approval",
            target_id=str(approval.id),
            service_id=service.id,
            before=None,
            after=approval_summary(approval),
            reason=reason,
            address=who.address,
            now=now,
        )
        return GrantOutcome(approval_id=approval.id)
    before = balance_snapshot(conn, member, now)
    result = ledger.grant(
        conn,
        wallet,
        amount=amount,
        kind=kind,
        source="admin",
        actor=who.journal_actor,
        now=now,
        reason=reason,
        expires_at=expires_at,
        external_id=member.external_id,
    )
    after = {
        **balance_snapshot(conn, member, now),
        "journal_id": result.journal_id,
        "amount": amount,
        "cash_kind": kind,
        "expires_at": expires_at,
    }
    _record(
        conn, who, "cash.grant", service, member, before=before, after=after, reason=reason, now=now
    )
    return GrantOutcome(journal_id=result.journal_id)


def approval_summary(approval: GrantApproval) -> dict[str, Any]:
    return {
        "status": approval.status,
        "member_id": approval.member_id,
        "external_id": approval.member_external_id,
        "amount": approval.amount,
        "currency": approval.currency,
        "cash_kind": approval.cash_kind,
        "expires_at": approval.expires_at,
        "requested_by": approval.requested_by_email,
        "journal_id": approval.journal_id,
    }


def revoke(
    conn: Connection,
    service: Service,
    external_id: str,
    *,
    amount: int,
    reason: str,
    who: Operator,
    now: datetime,
) -> UUID:
    """Take cash back: a spend referenced ``admin-revoke`` with the reason as its memo.

    Suspended members' cash can be revoked too (an admin is not the member spending).
    """
    member, wallet = app.member_wallet(conn, service, external_id, spending=False)
    before = balance_snapshot(conn, member, now)
    result = ledger.spend(
        conn,
        wallet,
        amount=amount,
        reference=REVOKE_REFERENCE,
        memo=reason,
        actor=who.journal_actor,
        now=now,
        external_id=member.external_id,
    )
    after = {
        **balance_snapshot(conn, member, now),
        "journal_id": result.journal_id,
        "amount": amount,
    }
    _record(
        conn,
        who,
        "cash.revoke",
        service,
        member,
        before=before,
        after=after,
        reason=reason,
        now=now,
    )
    return result.journal_id


def reverse(
    conn: Connection,
    service: Service,
    external_id: str,
    spend_id: UUID,
    *,
    reason: str,
    who: Operator,
    now: datetime,
) -> UUID:
    """Reverse one of this member's spends (another member's or service's is not found)."""
    member = tenancy.get_member(conn, service.id, external_id)
    original = store.find_journal(conn, service.id, spend_id)
    if original["member_id"] != member.id:
        raise NotFound("journal_not_found", "No such transaction for this member.")
    if original["kind"] not in ledger.REVERSIBLE_KINDS:
        raise Conflict("not_reversible", "Only a spend can be reversed.")
    member, wallet = app.member_wallet_by_id(conn, service, member.id, spending=False)
    before = balance_snapshot(conn, member, now)
    result = ledger.reverse_spend(
        conn,
        wallet,
        spend_id,
        actor=who.journal_actor,
        now=now,
        reason=reason,
        external_id=member.external_id,
    )
    after = {
        **balance_snapshot(conn, member, now),
        "journal_id": result.journal_id,
        "reverses": spend_id,
        "amount": result.amount,
    }
    _record(
        conn,
        who,
        "cash.reverse",
        service,
        member,
        before=before,
        after=after,
        reason=reason,
        now=now,
    )
    return result.journal_id


def release_hold(
    conn: Connection,
    service: Service,
    external_id: str,
    hold_id: UUID,
    *,
    reason: str,
    who: Operator,
    now: datetime,
) -> UUID:
    """Release one of this member's active holds back to the lots it came from."""
    member = tenancy.get_member(conn, service.id, external_id)
    hold = store.get_hold(conn, service.id, hold_id)
    if hold.member_id != member.id:
        raise NotFound("hold_not_found", "No such hold for this member.")
    member, wallet = app.member_wallet_by_id(conn, service, member.id, spending=False)
    before = {**balance_snapshot(conn, member, now), "hold_id": hold_id, "hold_status": hold.status}
    result = ledger.release_hold(
        conn, wallet, hold_id, actor=who.journal_actor, now=now, external_id=member.external_id
    )
    after = {
        **balance_snapshot(conn, member, now),
        "hold_id": hold_id,
        "hold_status": result.hold.status,
        "journal_id": result.journal_id,
    }
    _record(
        conn,
        who,
        "holds.release",
        service,
        member,
        before=before,
        after=after,
        reason=reason,
        now=now,
    )
    return result.journal_id


#: The statuses an admin may set from the desk, and the audit action of each.
STATUS_ACTIONS = {"suspended": "members.suspend", "active": "members.reactivate"}


def set_status(
    conn: Connection,
    service: Service,
    external_id: str,
    status: str,
    *,
    reason: str,
    who: Operator,
    now: datetime,
) -> Member:
    """Suspend or reactivate a member (closed members stay closed)."""
    if status not in STATUS_ACTIONS:
        raise InvalidInput("invalid_status", "status must be suspended or active.")
    member = tenancy.get_member(conn, service.id, external_id)
    if member.status == status:
        raise Conflict("member_status_unchanged", f"The member is already {status}.")
    changed = tenancy.set_member_status(conn, service.id, external_id, status, now=now)
    _record(
        conn,
        who,
        STATUS_ACTIONS[status],
        service,
        changed,
        before={"status": member.status},
        after={"status": changed.status},
        reason=reason,
        now=now,
    )
    return changed
