"""Periodic jobs: a worker started with ``scheduler=True`` calls :func:`fire_due` each loop.

Each entry has a row in ``schedules``. Firing enqueues one job and moves ``next_run_at`` on with
``UPDATE … WHERE name = :n AND next_run_at = :old`` in the same transaction, so when several
workers race only the one whose update matched enqueues. ``next_run_at`` stays on the entry's
grid (old + k·interval, the first such moment after now): a scheduler that was down for a day
fires once on return, not once per missed interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from coffer.db.outbox import enqueue
from coffer.db.transaction import Database
from coffer.db.upsert import insert_if_absent
from coffer.jobs.tables import schedules
from coffer.kernel.clock import Clock

EXPIRE_HOLDS_JOB = "ledger.expire_holds"
EXPIRE_LOTS_JOB = "ledger.expire_lots"
AUDIT_JOB = "ledger.audit"
PURGE_IDEMPOTENCY_JOB = "idempotency.purge"
PURGE_SESSIONS_JOB = "sessions.purge"
JANITOR_JOB = "payments.janitor"
PRUNE_HEALTH_JOB = "payments.prune_health"
CLOSE_STALE_SESSIONS_JOB = "usage.close_stale"
GRADES_JOB = "grades.recompute"

#: A scheduled run is retried a little; the next firing comes soon anyway.
SCHEDULED_MAX_ATTEMPTS = 3


class ScheduleEntry(NamedTuple):
    name: str
    kind: str
    interval_seconds: int


DEFAULT_SCHEDULE: tuple[ScheduleEntry, ...] = (
    ScheduleEntry(EXPIRE_HOLDS_JOB, EXPIRE_HOLDS_JOB, 30),
    ScheduleEntry(EXPIRE_LOTS_JOB, EXPIRE_LOTS_JOB, 300),
    ScheduleEntry(AUDIT_JOB, AUDIT_JOB, 3600),
    ScheduleEntry(PURGE_IDEMPOTENCY_JOB, PURGE_IDEMPOTENCY_JOB, 3600),
    ScheduleEntry(PURGE_SESSIONS_JOB, PURGE_SESSIONS_JOB, 3600),
    ScheduleEntry(JANITOR_JOB, JANITOR_JOB, 60),
    ScheduleEntry(PRUNE_HEALTH_JOB, PRUNE_HEALTH_JOB, 3600),
    ScheduleEntry(CLOSE_STALE_SESSIONS_JOB, CLOSE_STALE_SESSIONS_JOB, 60),
    ScheduleEntry(GRADES_JOB, GRADES_JOB, 86400),
)


def fire_due(db: Database, clock: Clock, entries: Iterable[ScheduleEntry]) -> list[str]:
    """Enqueue one job per due entry; return the names this caller fired."""
    wanted = [ScheduleEntry(*entry) for entry in entries]
    now = clock.now()
    known = db.read(lambda conn: _next_runs(conn, [e.name for e in wanted]))
    if all(e.name in known and known[e.name] > now for e in wanted):
        return []  # the common case: nothing due, and no write transaction taken
    return db.write(lambda conn: _fire(conn, clock.now(), wanted))


def _next_runs(conn: Connection, names: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        select(schedules.c.name, schedules.c.next_run_at).where(schedules.c.name.in_(names))
    )
    return {name: next_run_at for name, next_run_at in rows}


def _fire(conn: Connection, now: datetime, entries: Sequence[ScheduleEntry]) -> list[str]:
    for entry in entries:
        insert_if_absent(
            conn,
            schedules,
            {"name": entry.name, "interval_seconds": entry.interval_seconds, "next_run_at": now},
            conflict_on=["name"],
        )
    fired: list[str] = []
    for entry in entries:
        old = _next_runs(conn, [entry.name])[entry.name]
        if old > now:
            continue
        advanced = conn.execute(
            update(schedules)
            .where(schedules.c.name == entry.name, schedules.c.next_run_at == old)
            .values(
                next_run_at=_next_on_grid(old, now, entry.interval_seconds),
                last_run_at=now,
                interval_seconds=entry.interval_seconds,
            )
        )
        if advanced.rowcount != 1:
            continue  # another worker fired it first
        enqueue(
            conn,
            entry.kind,
            {"schedule": entry.name, "scheduled_for": old.isoformat()},
            now=now,
            max_attempts=SCHEDULED_MAX_ATTEMPTS,
        )
        fired.append(entry.name)
    return fired


def _next_on_grid(old: datetime, now: datetime, interval_seconds: int) -> datetime:
    missed = int((now - old).total_seconds() // interval_seconds)
    return old + timedelta(seconds=interval_seconds * (missed + 1))
