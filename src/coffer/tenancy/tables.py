"""Tables owned by tenancy: services (tenants), their API keys, and members."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text, UniqueConstraint

from coffer.db.metadata import Id, UTCDateTime, metadata

MEMBER_STATUSES = ("active", "suspended", "closed")
CONSUMPTION_ORDERS = ("bonus_first", "paid_first")

services = Table(
    "services",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("consumption_order", String(20), nullable=False, default="bonus_first"),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(f"consumption_order IN {CONSUMPTION_ORDERS!r}", name="consumption_order"),
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
