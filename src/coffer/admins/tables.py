"""Tables owned by ``coffer.admins``: admin accounts and their server-side sessions."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table

from coffer.admins.model import STATUSES
from coffer.admins.permissions import ROLES
from coffer.db.metadata import Id, UTCDateTime, metadata

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    CheckConstraint(f"role IN {ROLES!r}", name="role"),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    CheckConstraint("email = lower(email)", name="email_lowercase"),
)

#: A session is found by the SHA-256 of its cookie token; the token itself is never stored.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("admin_id", Id, ForeignKey("admin_users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("address", String(64), nullable=False, default=""),
    Column("user_agent", String(300), nullable=False, default=""),
    Column("revoked_at", UTCDateTime, nullable=True),
)
Index("ix_admin_sessions_admin", admin_sessions.c.admin_id)
