"""Idempotency keys: the stored first response of every request sent with a key.

Entry points (the open API now, others later) claim a key first thing in the transaction that
does the work and record the response at its end, so a committed key always has a response and
a failed request leaves no key. The HTTP rules (header, request hash, replay) live in
``coffer.api.idempotency``; the table is here, below every package, so the purge job can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from coffer.db.metadata import Id, UTCDateTime, metadata
from coffer.db.upsert import insert_if_absent

IDEMPOTENCY_KEY_MAX = 255

#: Keys younger than this are never purged.
RETENTION = timedelta(hours=24)

#: One row per (service, key). The body is plain ``JSON`` (not JSONB) so that a replay returns
#: the keys in their original order.
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


class KeyReused(Exception):
    """The key was first used for a different request."""


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    body: dict[str, Any]


def claim(
    conn: Connection, service_id: UUID, key: str, request_hash: str, now: datetime
) -> Stored | None:
    """Claim ``key`` for this request: None if claimed now, else the first response.

    Raises :class:`KeyReused` when the key was used for a request with another hash.
    """
    values = {"service_id": service_id, "key": key, "request_hash": request_hash, "created_at": now}
    if insert_if_absent(conn, idempotency_keys, values, conflict_on=["service_id", "key"]):
        return None
    row = conn.execute(
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.response_status,
            idempotency_keys.c.response_body,
        ).where(idempotency_keys.c.service_id == service_id, idempotency_keys.c.key == key)
    ).one()
    if row.request_hash != request_hash:
        raise KeyReused(key)
    return Stored(int(row.response_status), dict(row.response_body))


def record(conn: Connection, service_id: UUID, key: str, status: int, body: dict[str, Any]) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.service_id == service_id, idempotency_keys.c.key == key)
        .values(response_status=status, response_body=body)
    )


def purge(conn: Connection, before: datetime) -> int:
    """Delete keys created before ``before`` (callers keep at least RETENTION); returns how many."""
    result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < before))
    return int(result.rowcount)
