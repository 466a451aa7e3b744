"""The job queue over the outbox table (``coffer.db.outbox.jobs``): claim, finish, list, retry.

States: ``pending`` → (claim) ``running`` → ``done``, or back to ``pending`` with backoff on
failure, or ``dead`` once ``max_attempts`` are used up; an admin's :func:`retry` moves a dead job
back to ``pending``.

A claim holds a lease. A job still ``running`` after its lease ran out (its worker was killed or
hung) is claimable again, so a dying worker loses nothing; handlers are idempotent because a job
may therefore run more than once. A worker's :func:`complete` and :func:`fail` only apply while
the job is still its own, so a worker that lost its lease cannot overwrite the new owner's outcome.

Claims are exclusive: on PostgreSQL through ``SELECT … FOR UPDATE SKIP LOCKED``, on SQLite because
``Database.write`` begins with ``BEGIN IMMEDIATE`` (one writer at a time).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.db.outbox import JOB_STATUSES, jobs
from coffer.db.transaction import Database
from coffer.kernel.clock import Clock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound

DEFAULT_LEASE_SECONDS = 300.0
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds under a lease; ``attempt`` counts this run (1 = first)."""

    id: UUID
    kind: str
    payload: dict[str, Any]
    service_id: UUID | None
    attempt: int
    max_attempts: int
    lease_until: datetime
    worker_id: str


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as an admin sees it (``coffer jobs list``)."""

    id: UUID
    kind: str
    status: str
    service_id: UUID | None
    attempts: int
    max_attempts: int
    run_after: datetime
    lease_until: datetime | None
    locked_by: str | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]


def backoff_seconds(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Delay before retrying after failed attempt ``attempt`` (1-based).

    ``10 s · 2^(attempt-1)`` capped at one hour, with "equal jitter": a random point in the upper
    half of that delay, so failing jobs spread out instead of retrying in lockstep.
    """
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(max(attempt - 1, 0), 20))
    return ceiling / 2 + rand() * ceiling / 2


def claim(
    db: Database,
    clock: Clock,
    worker_id: str,
    *,
    limit: int = 10,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` due jobs for ``worker_id``, oldest ``run_after`` first.

    On SQLite an idle queue is seen with a read first, so a polling worker does not take the
    database's single write lock (which the server needs) once a second for nothing.
    """
    if db.dialect == "sqlite":
        probe = select(jobs.c.id).where(_due(clock.now())).limit(1)
        if db.read(lambda conn: conn.execute(probe).first()) is None:
            return []

    def work(conn: Connection) -> list[ClaimedJob]:
        now = clock.now()
        lease_until = now + timedelta(seconds=lease_seconds)
        due = (
            select(jobs)
            .where(_due(now))
            .order_by(jobs.c.run_after, jobs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed: list[ClaimedJob] = []
        for row in conn.execute(due).mappings().all():
            if row["attempts"] >= row["max_attempts"]:
                _bury_abandoned(conn, row, now)
                continue
            attempt = row["attempts"] + 1
            conn.execute(
                update(jobs)
                .where(jobs.c.id == row["id"])
                .values(
                    status="running",
                    attempts=attempt,
                    lease_until=lease_until,
                    locked_by=worker_id,
                )
            )
            claimed.append(
                ClaimedJob(
                    id=row["id"],
                    kind=row["kind"],
                    payload=dict(row["payload"]),
                    service_id=row["service_id"],
                    attempt=attempt,
                    max_attempts=row["max_attempts"],
                    lease_until=lease_until,
                    worker_id=worker_id,
                )
            )
        return claimed

    return db.write(work)


def _bury_abandoned(conn: Connection, row: RowMapping, now: datetime) -> None:
    """A job whose last allowed run lost its lease (e.g. it keeps killing workers) goes dead."""
    conn.execute(
        update(jobs)
        .where(jobs.c.id == row["id"])
        .values(
            status="dead",
            lease_until=None,
            finished_at=now,
            last_error=_clip(
                f"lease expired during attempt {row['attempts']} of {row['max_attempts']} "
                f"(worker {row['locked_by']}); last error: {row['last_error']}"
            ),
        )
    )


def extend_lease(
    db: Database,
    clock: Clock,
    job_id: UUID,
    worker_id: str,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> bool:
    """Renew this worker's lease on a running job; False if the job is no longer its own."""

    def work(conn: Connection) -> bool:
        result = conn.execute(
            update(jobs)
            .where(_owned(job_id, worker_id))
            .values(lease_until=clock.now() + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1

    return db.write(work)


def complete(db: Database, clock: Clock, job_id: UUID, *, worker_id: str | None = None) -> bool:
    """Mark a running job done; with ``worker_id``, only if that worker still holds it."""

    def work(conn: Connection) -> bool:
        result = conn.execute(
            update(jobs)
            .where(_owned(job_id, worker_id))
            .values(status="done", lease_until=None, finished_at=clock.now())
        )
        return result.rowcount == 1

    return db.write(work)


def fail(
    db: Database,
    clock: Clock,
    job_id: UUID,
    error: str,
    *,
    worker_id: str | None = None,
    rand: Callable[[], float] = random.random,
) -> str | None:
    """Record a failed run: back to ``pending`` after a backoff, or ``dead`` when out of attempts.

    Returns the new status, or None when the job was not running (or not this worker's).
    """

    def work(conn: Connection) -> str | None:
        row = (
            conn.execute(
                select(jobs.c.attempts, jobs.c.max_attempts)
                .where(_owned(job_id, worker_id))
                .with_for_update()
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        now = clock.now()
        values: dict[str, Any] = {"lease_until": None, "last_error": _clip(error)}
        if row["attempts"] >= row["max_attempts"]:
            values.update(status="dead", finished_at=now)
        else:
            delay = backoff_seconds(row["attempts"], rand)
            values.update(status="pending", run_after=now + timedelta(seconds=delay))
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
        return str(values["status"])

    return db.write(work)


def retry(db: Database, clock: Clock, job_id: UUID) -> None:
    """Admin action: put a dead job back in the queue, due now, with its attempts reset."""

    def work(conn: Connection) -> None:
        status = conn.execute(
            select(jobs.c.status).where(jobs.c.id == job_id).with_for_update()
        ).scalar_one_or_none()
        if status is None:
            raise NotFound("job_not_found", f"No job {job_id}.")
        if status != "dead":
            raise Conflict(
                "job_not_dead",
                f"Job {job_id} is {status}; only dead jobs can be retried.",
                {"status": status},
            )
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                status="pending",
                attempts=0,
                run_after=clock.now(),
                lease_until=None,
                locked_by=None,
                finished_at=None,
            )
        )

    db.write(work)


def list_jobs(
    db: Database, *, status: str | None = None, kind: str | None = None, limit: int = 50
) -> list[JobRow]:
    """Jobs newest first, optionally only those with ``status`` and/or ``kind``."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInput(
            "invalid_status",
            f"Unknown job status {status!r}.",
            {"allowed": list(JOB_STATUSES)},
        )
    query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(jobs.c.status == status)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)

    def work(conn: Connection) -> list[JobRow]:
        return [
            JobRow(
                id=row["id"],
                kind=row["kind"],
                status=row["status"],
                service_id=row["service_id"],
                attempts=row["attempts"],
                max_attempts=row["max_attempts"],
                run_after=row["run_after"],
                lease_until=row["lease_until"],
                locked_by=row["locked_by"],
                last_error=row["last_error"],
                created_at=row["created_at"],
                finished_at=row["finished_at"],
                payload=dict(row["payload"]),
            )
            for row in conn.execute(query).mappings()
        ]

    return db.read(work)


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending and due, or running under a lease that ran out."""
    return or_(
        and_(jobs.c.status == "pending", jobs.c.run_after <= now),
        and_(jobs.c.status == "running", jobs.c.lease_until <= now),
    )


def _owned(job_id: UUID, worker_id: str | None) -> ColumnElement[bool]:
    condition = and_(jobs.c.id == job_id, jobs.c.status == "running")
    if worker_id is not None:
        condition = and_(condition, jobs.c.locked_by == worker_id)
    return condition


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
