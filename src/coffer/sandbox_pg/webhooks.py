"""Webhook events: written to the outbox with the change; signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from coffer.kernel.ids import uuid7
from coffer.sandbox_pg.faults import Faults
from coffer.sandbox_pg.tables import webhook_deliveries
from coffer.sandbox_pg.times import rfc3339

PAYMENT_STATUS_CHANGED = "PAYMENT_STATUS_CHANGED"
DEPOSIT_CALLBACK = "DEPOSIT_CALLBACK"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def enqueue(
    conn: Connection,
    merchant: RowMapping,
    event_type: str,
    payment: dict[str, Any],
    now: datetime,
    faults: Faults,
) -> str | None:
    """Store the event for the merchant's webhook URL (none set: nothing to send)."""
    url = merchant["webhook_url"]
    if not url:
        return None
    event_id = f"evt_{uuid7().hex}"
    body = json.dumps(
        {"eventId": event_id, "eventType": event_type, "createdAt": rfc3339(now), "data": payment},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    status = "held" if faults.out_of_order_webhooks else "pending"
    seq = _next_seq(conn)
    for copy in range(1 + faults.duplicate_webhooks):
        conn.execute(
            insert(webhook_deliveries).values(
                event_id=event_id,
                merchant_id=merchant["merchant_id"],
                url=url,
                body=body,
                status=status,
                tries=0,
                next_try_ms=wall_ms(),
                seq=seq + copy,
            )
        )
    return event_id


def release_held(conn: Connection) -> int:
    """Make held deliveries due, newest first."""
    held = conn.execute(
        select(webhook_deliveries.c.id)
        .where(webhook_deliveries.c.status == "held")
        .order_by(webhook_deliveries.c.seq.desc(), webhook_deliveries.c.id.desc())
    ).all()
    seq = _next_seq(conn)
    for offset, (delivery_id,) in enumerate(held):
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(status="pending", seq=seq + offset, next_try_ms=wall_ms())
        )
    return len(held)


def _next_seq(conn: Connection) -> int:
    top = conn.execute(select(func.max(webhook_deliveries.c.seq))).scalar_one()
    return int(top or 0) + 1


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (used by the tests and documented for merchants)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature_header(secret, timestamp, body)
    return hmac.compare_digest(expected, header)
