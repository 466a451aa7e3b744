"""Recording, verifying and browsing the audit log. Each function takes the caller's connection.

:func:`record` runs inside the transaction of the change it describes, so the row exists exactly
when the change does. Appends take turns on the chain head row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so ``seq`` runs 1, 2, 3 …
without gaps and every row links to the one before it. Call it last in the transaction: the
head row is one lock shared by every admin action.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.audit.model import (
    GENESIS,
    AuditEntry,
    AuditPage,
    BrokenLink,
    row_hash,
    to_json_value,
)
from coffer.audit.tables import audit_chain, audit_log
from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import InvalidInput
from coffer.kernel.ids import uuid7
from coffer.kernel.text import is_storable_text

CHAIN = "main"
MAX_PAGE = 500
_VERIFY_BATCH = 1000
_LIMITS = {"actor": 320, "action": 80, "target_type": 40, "target_id": 320, "address": 64}


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    service_id: UUID | None,
    before: Any,
    after: Any,
    reason: str,
    address: str,
    now: datetime,
) -> UUID:
    """Append one row to the chain and return its id."""
    texts = {
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "address": address,
    }
    for name, value in texts.items():
        if not isinstance(value, str) or len(value) > _LIMITS[name] or not is_storable_text(value):
            raise InvalidInput("invalid_audit_value", f"{name} is not valid audit text.")
    if not actor or not action:
        raise InvalidInput("invalid_audit_value", "An audit row needs an actor and an action.")
    if not isinstance(reason, str) or not is_storable_text(reason, multiline=True):
        raise InvalidInput("invalid_audit_value", "reason is not valid audit text.")
    seq, prev_hash = _lock_head(conn)
    fields: dict[str, Any] = {
        "id": uuid7(),
        "seq": seq + 1,
        "at": now,
        **texts,
        "service_id": service_id,
        "before": to_json_value(before, field="before"),
        "after": to_json_value(after, field="after"),
        "reason": reason,
        "prev_hash": prev_hash,
    }
    fields["hash"] = row_hash(fields)
    conn.execute(insert(audit_log).values(**fields))
    conn.execute(
        update(audit_chain)
        .where(audit_chain.c.name == CHAIN)
        .values(seq=fields["seq"], hash=fields["hash"])
    )
    row_id: UUID = fields["id"]
    return row_id


def _lock_head(conn: Connection) -> tuple[int, str]:
    """The chain head's (seq, hash), locked until the transaction ends."""
    insert_if_absent(
        conn, audit_chain, {"name": CHAIN, "seq": 0, "hash": GENESIS}, conflict_on=["name"]
    )
    head = conn.execute(
        select(audit_chain.c.seq, audit_chain.c.hash)
        .where(audit_chain.c.name == CHAIN)
        .with_for_update()
    ).one()
    return int(head.seq), str(head.hash)


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(**{name: row[name] for name in AuditEntry.__slots__})


def _rows(conn: Connection) -> Iterator[AuditEntry]:
    after = 0
    while True:
        batch = (
            conn.execute(
                select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(_VERIFY_BATCH)
            )
            .mappings()
            .all()
        )
        for row in batch:
            yield _entry(row)
        if len(batch) < _VERIFY_BATCH:
            return
        after = int(batch[-1]["seq"])


def verify(conn: Connection) -> BrokenLink | None:
    """Walk the chain from the start; return the first row that breaks it, or None."""
    expected_seq, prev_hash = 1, GENESIS
    for entry in _rows(conn):
        if entry.seq != expected_seq:
            return BrokenLink(
                entry.seq, entry.id, f"rows {expected_seq}..{entry.seq - 1} are missing"
            )
        if entry.prev_hash != prev_hash:
            return BrokenLink(entry.seq, entry.id, "prev_hash does not match the previous row")
        fields = {name: getattr(entry, name) for name in AuditEntry.__slots__}
        if row_hash(fields) != entry.hash:
            return BrokenLink(entry.seq, entry.id, "the row was changed after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = conn.execute(
        select(audit_chain.c.seq, audit_chain.c.hash).where(audit_chain.c.name == CHAIN)
    ).first()
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            return BrokenLink(last_seq, None, "the chain head is missing")
        return None
    if int(head.seq) != last_seq:
        if int(head.seq) > last_seq:
            return BrokenLink(last_seq + 1, None, f"rows {last_seq + 1}..{head.seq} are missing")
        return BrokenLink(last_seq, None, "the chain head is behind the last row")
    if head.hash != prev_hash:
        return BrokenLink(last_seq, None, "the chain head does not match the last row")
    return None


def browse(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    service_id: UUID | None = None,
    target: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """Entries matching every given filter, newest first, ``limit`` at a time.

    ``actor`` and ``action`` match exactly; ``target`` matches a ``target_id`` or
    ``"<target_type>:<target_id>"``; ``date_from`` is inclusive and ``date_to`` exclusive.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("invalid_limit", f"limit must be between 1 and {MAX_PAGE}.")
    query = select(audit_log)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    if service_id is not None:
        query = query.where(audit_log.c.service_id == service_id)
    if target:
        kind, sep, ident = target.partition(":")
        match = audit_log.c.target_id == target
        if sep:
            match = or_(
                match, and_(audit_log.c.target_type == kind, audit_log.c.target_id == ident)
            )
        query = query.where(match)
    if date_from is not None:
        query = query.where(audit_log.c.at >= date_from)
    if date_to is not None:
        query = query.where(audit_log.c.at < date_to)
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    rows = conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit + 1)).mappings().all()
    entries = [_entry(row) for row in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(entries, entries[-1].seq if more and entries else None)


def count_recent(
    conn: Connection,
    *,
    action: str,
    target_type: str,
    target_id: str,
    since: datetime,
    reason: str | None = None,
) -> int:
    """How many rows of ``action`` on the target (with ``reason``) were written since ``since``."""
    query = select(func.count()).where(
        audit_log.c.action == action,
        audit_log.c.target_type == target_type,
        audit_log.c.target_id == target_id,
        audit_log.c.at >= since,
    )
    if reason is not None:
        query = query.where(audit_log.c.reason == reason)
    found = conn.execute(query).scalar_one()
    return int(found)
