"""Tables owned by entitlements: what members own, and the usage sessions that spend it.

An entitlement is one grant (from one purchase line, or a gift of one): an item count, a pass
(``starts_at``..``ends_at``, with included units for a mixed pass), a quantity of units, or
minutes of play time. A second period pass of the same product starts where the last one ends,
so "buying again extends" and cancelling one purchase removes exactly its own days.
"""

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

from coffer.db.metadata import Id, UTCDateTime, metadata

ENTITLEMENT_KINDS = ("item", "period_pass", "quantity_pass", "mixed", "time")
ENTITLEMENT_STATUSES = ("active", "exhausted", "revoked")
SESSION_STATUSES = ("open", "closed", "exhausted")

entitlements = Table(
    "entitlements",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    # Items, units or minutes granted and left (NULL for a pure period pass).
    Column("granted", BigInteger, nullable=True),
    Column("remaining", BigInteger, nullable=True),
    Column("unit_name", String(10), nullable=True),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=True),
    # The purchase line it came from (NULL: granted otherwise, e.g. by an operator).
    Column("purchase_line_id", Id, nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(f"kind IN {ENTITLEMENT_KINDS!r}", name="kind"),
    CheckConstraint(f"status IN {ENTITLEMENT_STATUSES!r}", name="status"),
    CheckConstraint("(granted IS NULL) = (remaining IS NULL)", name="quantity_complete"),
    CheckConstraint(
        "remaining IS NULL OR (remaining >= 0 AND remaining <= granted)", name="remaining_in_range"
    ),
    CheckConstraint("ends_at IS NULL OR starts_at < ends_at", name="period_ordered"),
    CheckConstraint(
        "kind NOT IN ('period_pass', 'mixed') OR ends_at IS NOT NULL", name="passes_end"
    ),
)
Index(
    "ix_entitlements_member", entitlements.c.member_id, entitlements.c.kind, entitlements.c.status
)

usage_sessions = Table(
    "usage_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    # The metered, mixed or quantity product being used; NULL: play time (time coupons).
    Column("product_id", Id, ForeignKey("products.id"), nullable=True),
    Column("unit_name", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_heartbeat_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("close_reason", Text, nullable=True),
    # Units (or minutes) used so far, and the cash charged for metered use.
    Column("used", BigInteger, nullable=False),
    Column("cash_charged", BigInteger, nullable=False),
    CheckConstraint(f"status IN {SESSION_STATUSES!r}", name="status"),
    CheckConstraint("used >= 0 AND cash_charged >= 0", name="totals_not_negative"),
)
Index("ix_usage_sessions_open", usage_sessions.c.status, usage_sessions.c.last_heartbeat_at)

#: Where each reported use went: an entitlement's units or minutes, or cash (a spend journal).
usage_draws = Table(
    "usage_draws",
    metadata,
    Column("id", Id, primary_key=True),
    Column("session_id", Id, ForeignKey("usage_sessions.id"), nullable=False, index=True),
    Column("entitlement_id", Id, ForeignKey("entitlements.id"), nullable=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=True),
    Column("units", BigInteger, nullable=False),
    Column("cash", BigInteger, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    CheckConstraint("units > 0 AND cash >= 0", name="amounts"),
    CheckConstraint("(journal_id IS NULL) = (cash = 0)", name="cash_has_journal"),
)
