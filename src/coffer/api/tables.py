"""Tables owned by the API: the idempotency keys of money-moving requests."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table

from coffer.db.metadata import Id, UTCDateTime, metadata

IDEMPOTENCY_KEY_MAX = 255

#: One row per (service, key). The row is inserted first in the request's own transaction and
#: completed (status and body) at its end, so a committed row always holds a response. The body
#: is plain ``JSON`` (not JSONB) so that a replay returns the keys in their original order.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("key", String(IDEMPOTENCY_KEY_MAX), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_body", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("service_id", "key"),
)
Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)
