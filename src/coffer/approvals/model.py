"""Approval records and their rules (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

STATUSES = ("pending", "approved", "rejected")


@dataclass(frozen=True, slots=True)
class GrantApproval:
    """A requested admin grant and, once decided, who decided and how."""

    id: UUID
    service_id: UUID
    member_id: UUID
    member_external_id: str
    amount: int
    currency: str
    cash_kind: str
    reason: str
    expires_at: datetime | None
    status: str
    requested_by: UUID
    requested_by_email: str
    requested_at: datetime
    decided_by: UUID | None
    decided_by_email: str | None
    decided_at: datetime | None
    decision_reason: str | None
    journal_id: UUID | None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def may_be_approved_by(self, admin_id: UUID) -> bool:
        """Four eyes: whoever asked for a grant never approves it."""
        return self.pending and admin_id != self.requested_by
