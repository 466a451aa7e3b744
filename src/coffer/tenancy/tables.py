"""Tables owned by tenancy: services (tenants), their API keys, members, cash-web sessions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

MEMBER_STATUSES = ("active", "suspended", "closed")
CONSUMPTION_ORDERS = ("bonus_first", "paid_first")
#: Refunding a charge that earned event bonus: claw the bonus back in proportion (what is left
#: of it), or refuse the refund while any of that share has been spent.
BONUS_REFUND_RULES = ("pro_rata", "block")

services = Table(
    "services",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("consumption_order", String(20), nullable=False, default="bonus_first"),
    Column(
        "bonus_refund", String(10), nullable=False, default="pro_rata", server_default="pro_rata"
    ),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", String(100), nullable=True),
    # The HMAC key of the signed links that bring members to the cash web (tenancy/links.py).
    Column("link_secret", String(64), nullable=False),
    # Admin grants of at least this many minor units wait for a second admin's approval;
    # NULL: no grant needs one.
    Column("grant_approval_threshold", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(f"consumption_order IN {CONSUMPTION_ORDERS!r}", name="consumption_order"),
    CheckConstraint(f"bonus_refund IN {BONUS_REFUND_RULES!r}", name="bonus_refund"),
    CheckConstraint(
        "grant_approval_threshold IS NULL OR grant_approval_threshold > 0",
        name="grant_approval_threshold_positive",
    ),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False, index=True),
    Column("prefix", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("grade", String(40), nullable=False, default="basic"),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "external_id"),
    CheckConstraint(f"status IN {MEMBER_STATUSES!r}", name="status"),
)

#: A member's signed-in session on the cash web. Only the SHA-256 of the cookie's token is
#: stored; the session ends 30 minutes after ``last_seen_at`` or at ``expires_at`` (12 hours).
cash_sessions = Table(
    "cash_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
