"""Tables owned by ``coffer.audit``: the log itself and the head of its hash chain."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, String, Table, Text

from coffer.db.metadata import Id, UTCDateTime, metadata

#: One row per admin action that changed something. Never updated, never deleted: each row's
#: ``hash`` covers its fields and the previous row's hash, so any edit or removal shows.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(80), nullable=False),
    Column("target_type", String(40), nullable=False),
    Column("target_id", String(320), nullable=False),
    Column("service_id", Id, nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("address", String(64), nullable=False, default=""),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("seq >= 1", name="seq_positive"),
)
Index("ix_audit_log_at", audit_log.c.at)
Index("ix_audit_log_actor_seq", audit_log.c.actor, audit_log.c.seq)
Index("ix_audit_log_action_seq", audit_log.c.action, audit_log.c.seq)
Index("ix_audit_log_service_seq", audit_log.c.service_id, audit_log.c.seq)
Index("ix_audit_log_target", audit_log.c.target_type, audit_log.c.target_id)

#: The chain head: one row per chain holding the last seq and hash. Appends lock it
#: (``SELECT … FOR UPDATE``) so that concurrent writers take turns and the chain never forks;
#: it also lets :func:`coffer.audit.service.verify` notice rows deleted from the end.
audit_chain = Table(
    "audit_chain",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
