"""Tables owned by approvals."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from coffer.approvals.model import STATUSES
from coffer.db.metadata import Id, UTCDateTime, metadata

grant_approvals = Table(
    "grant_approvals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("member_external_id", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cash_kind", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("status", String(12), nullable=False),
    Column("requested_by", Id, nullable=False),
    Column("requested_by_email", String(320), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", Id, nullable=True),
    Column("decided_by_email", String(320), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    CheckConstraint("cash_kind IN ('paid', 'bonus')", name="cash_kind"),
    # The database keeps the four-eyes rule too, whatever the code above it does.
    CheckConstraint(
        "status <> 'approved' OR decided_by <> requested_by", name="approver_not_requester"
    ),
    CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_iff_not_pending"),
)
Index("ix_grant_approvals_status", grant_approvals.c.status, grant_approvals.c.id)
Index("ix_grant_approvals_service", grant_approvals.c.service_id, grant_approvals.c.id)
