"""Deciding a grant approval: the decision, the grant it allows and the audit row, at once.

Approving claims the request with a guarded update first (``approval_not_pending`` for a second
click or a second admin), then grants; if the grant is refused (the member was closed, the
expiry has passed) the whole transaction rolls back and the request stays pending.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.approvals import service as approvals
from coffer.approvals.model import GrantApproval
from coffer.audit import service as audit
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy
from coffer.web.admin.desk.cash_actions import approval_summary
from coffer.web.admin.desk.operator import Operator


def approve(
    conn: Connection, approval_id: UUID, *, reason: str | None, who: Operator, now: datetime
) -> GrantApproval:
    approval = approvals.decide(
        conn,
        approval_id,
        approve=True,
        decided_by=who.admin_id,
        decided_by_email=who.email,
        reason=reason,
        now=now,
    )
    service = tenancy.get_service(conn, approval.service_id)
    member, wallet = app.member_wallet_by_id(conn, service, approval.member_id, spending=False)
    result = ledger.grant(
        conn,
        wallet,
        amount=approval.amount,
        kind=approval.cash_kind,
        source="admin",
        actor=who.journal_actor,
        now=now,
        reason=approval.reason,
        expires_at=approval.expires_at,
        external_id=member.external_id,
    )
    approval = approvals.attach_journal(conn, approval.id, result.journal_id)
    audit.record(
        conn,
        actor=who.audit_actor,
        action="approvals.approve",
        target_type="grant_approval",
        target_id=str(approval.id),
        service_id=service.id,
        before={"status": "pending"},
        after=approval_summary(approval),
        reason=reason or "",
        address=who.address,
        now=now,
    )
    return approval


def reject(
    conn: Connection, approval_id: UUID, *, reason: str, who: Operator, now: datetime
) -> GrantApproval:
    approval = approvals.decide(
        conn,
        approval_id,
        approve=False,
        decided_by=who.admin_id,
        decided_by_email=who.email,
        reason=reason,
        now=now,
    )
    audit.record(
        conn,
        actor=who.audit_actor,
        action="approvals.reject",
        target_type="grant_approval",
        target_id=str(approval.id),
        service_id=approval.service_id,
        before={"status": "pending"},
        after=approval_summary(approval),
        reason=reason,
        address=who.address,
        now=now,
    )
    return approval
