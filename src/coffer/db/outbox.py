"""The outbox: jobs written in the same transaction as the change that causes them.

Every layer may enqueue (a grant queues its ``cash.granted`` webhook in the grant's own
transaction), so the table lives here, below the domain; ``coffer.jobs`` claims and runs them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from coffer.db.metadata import Id, UTCDateTime, metadata
from coffer.kernel.ids import uuid7

JOB_STATUSES = ("pending", "running", "done", "dead")

#: The job kind that delivers one outgoing webhook event to the service's endpoint.
WEBHOOK_JOB = "webhook.deliver"

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, nullable=True),
    Column("kind", String(80), nullable=False),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("locked_by", String(120), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("dedupe_key", String(200), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.run_after)

# Built once: the outbox insert is on every money path.
_insert_job = insert(jobs)


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    service_id: UUID | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 12,
    dedupe_key: str | None = None,
) -> UUID:
    """Queue a job in the caller's transaction and return its id."""
    job_id = uuid7()
    conn.execute(
        _insert_job,
        {
            "id": job_id,
            "service_id": service_id,
            "kind": kind,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": run_after or now,
            "dedupe_key": dedupe_key,
            "created_at": now,
        },
    )
    return job_id


def emit_event(
    conn: Connection, service_id: UUID, event_type: str, data: dict[str, Any], *, now: datetime
) -> UUID:
    """Queue an outgoing webhook event (``cash.granted`` …); its id is the event id."""
    event_id = uuid7()
    enqueue(
        conn,
        WEBHOOK_JOB,
        {
            "id": str(event_id),
            "type": event_type,
            "created_at": now.isoformat(),
            "data": data,
        },
        now=now,
        service_id=service_id,
    )
    return event_id
