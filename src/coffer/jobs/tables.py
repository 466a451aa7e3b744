"""Tables owned by ``coffer.jobs``: the schedule of periodic jobs and the webhook delivery log.

The job queue itself (``jobs``) lives in ``coffer.db.outbox`` so every layer can enqueue.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, Text

from coffer.db.metadata import Id, UTCDateTime, metadata

DELIVERY_STATUSES = ("delivered", "failed", "skipped")

#: One row per periodic job; ``next_run_at`` is advanced by a guarded UPDATE when it fires.
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("interval_seconds", Integer, nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_at", UTCDateTime, nullable=True),
    CheckConstraint("interval_seconds > 0", name="interval_positive"),
)

#: One row per attempt to deliver an outgoing webhook event (the service's delivery log).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, nullable=True),
    Column("event_id", Id, nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("response_excerpt", String(500), nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status"),
    CheckConstraint("attempt >= 1", name="attempt_positive"),
)
Index("ix_webhook_deliveries_event", webhook_deliveries.c.event_id)
Index(
    "ix_webhook_deliveries_service_time",
    webhook_deliveries.c.service_id,
    webhook_deliveries.c.created_at,
)
