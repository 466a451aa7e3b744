"""Approval use cases: ask for a grant, decide it, list requests; each in the caller's transaction.

A decision is a guarded ``UPDATE … WHERE status = 'pending'``: of two admins (or two clicks)
deciding the same request at once, exactly one changes it; the other gets
``approval_not_pending``, so an approved grant is carried out once.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.approvals.model import STATUSES, GrantApproval
from coffer.approvals.tables import grant_approvals
from coffer.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text

REASON_MAX = 500
LIST_MAX_LIMIT = 200


def _approval(row: RowMapping) -> GrantApproval:
    return GrantApproval(**{field.name: row[field.name] for field in fields(GrantApproval)})


def _reason(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"missing_{field}", f"{field} is required.")
    if len(value) > REASON_MAX or not is_storable_text(value, multiline=True):
        raise InvalidInput(f"invalid_{field}", f"{field} must be text of at most {REASON_MAX}.")
    return value.strip()


def request_grant(
    conn: Connection,
    *,
    service_id: UUID,
    member_id: UUID,
    member_external_id: str,
    amount: int,
    currency: str,
    cash_kind: str,
    reason: str,
    expires_at: datetime | None,
    requested_by: UUID,
    requested_by_email: str,
    now: datetime,
) -> GrantApproval:
    """Record a grant that waits for approval; nothing moves until it is approved."""
    parse_amount(amount)
    if cash_kind not in ("paid", "bonus"):
        raise InvalidInput("invalid_cash_kind", "cash_kind must be paid or bonus.")
    approval_id = uuid7()
    conn.execute(
        insert(grant_approvals).values(
            id=approval_id,
            service_id=service_id,
            member_id=member_id,
            member_external_id=member_external_id,
            amount=amount,
            currency=currency,
            cash_kind=cash_kind,
            reason=_reason(reason, "reason"),
            expires_at=expires_at,
            status="pending",
            requested_by=requested_by,
            requested_by_email=requested_by_email,
            requested_at=now,
        )
    )
    return get_approval(conn, approval_id)


def get_approval(conn: Connection, approval_id: UUID) -> GrantApproval:
    row = (
        conn.execute(select(grant_approvals).where(grant_approvals.c.id == approval_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("approval_not_found", "No such approval request.")
    return _approval(row)


def decide(
    conn: Connection,
    approval_id: UUID,
    *,
    approve: bool,
    decided_by: UUID,
    decided_by_email: str,
    reason: str | None,
    now: datetime,
) -> GrantApproval:
    """Approve or reject a pending request, once; the requester may reject but never approve.

    A rejection needs a reason. The caller carries out an approved grant in the same
    transaction and then calls :func:`attach_journal`.
    """
    current = get_approval(conn, approval_id)
    if approve and current.requested_by == decided_by:
        raise Forbidden("approval_self_decision", "You cannot approve your own request.")
    decision_reason = _reason(reason, "reason") if not approve or reason else None
    guard = [grant_approvals.c.id == approval_id, grant_approvals.c.status == "pending"]
    if approve:
        guard.append(grant_approvals.c.requested_by != decided_by)
    changed = conn.execute(
        update(grant_approvals)
        .where(*guard)
        .values(
            status="approved" if approve else "rejected",
            decided_by=decided_by,
            decided_by_email=decided_by_email,
            decided_at=now,
            decision_reason=decision_reason,
        )
    ).rowcount
    if changed != 1:
        raise Conflict("approval_not_pending", "This request has already been decided.")
    return get_approval(conn, approval_id)


def attach_journal(conn: Connection, approval_id: UUID, journal_id: UUID) -> GrantApproval:
    """Link an approved request to the grant journal that carried it out."""
    conn.execute(
        update(grant_approvals)
        .where(
            grant_approvals.c.id == approval_id,
            grant_approvals.c.status == "approved",
            grant_approvals.c.journal_id.is_(None),
        )
        .values(journal_id=journal_id)
    )
    return get_approval(conn, approval_id)


def list_approvals(
    conn: Connection,
    *,
    status: str | None = None,
    service_id: UUID | None = None,
    member_id: UUID | None = None,
    before: UUID | None = None,
    limit: int = 50,
) -> tuple[list[GrantApproval], UUID | None]:
    """Requests, newest first; pass the returned cursor as ``before`` for the next page."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("invalid_status", f"status must be one of {STATUSES}.")
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise InvalidInput("invalid_limit", f"limit must be from 1 to {LIST_MAX_LIMIT}.")
    query = select(grant_approvals)
    if status:
        query = query.where(grant_approvals.c.status == status)
    if service_id:
        query = query.where(grant_approvals.c.service_id == service_id)
    if member_id:
        query = query.where(grant_approvals.c.member_id == member_id)
    if before:
        query = query.where(grant_approvals.c.id < before)
    rows = (
        conn.execute(query.order_by(grant_approvals.c.id.desc()).limit(limit + 1)).mappings().all()
    )
    found = [_approval(row) for row in rows[:limit]]
    return found, (found[-1].id if len(rows) > limit else None)


def pending_count(conn: Connection, service_id: UUID | None = None) -> int:
    query = (
        select(func.count())
        .select_from(grant_approvals)
        .where(grant_approvals.c.status == "pending")
    )
    if service_id:
        query = query.where(grant_approvals.c.service_id == service_id)
    return int(conn.execute(query).scalar_one())
