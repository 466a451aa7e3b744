"""The job queue: claims, leases, backoff, dead letters, admin retry and listing."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from coffer.db.outbox import enqueue, jobs
from coffer.db.transaction import Database
from coffer.jobs import queue
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound


def _enqueue(
    db: Database,
    clock: ManualClock,
    kind: str = "test.job",
    *,
    run_after: datetime | None = None,
    max_attempts: int = 12,
) -> UUID:
    return db.write(
        lambda conn: enqueue(
            conn, kind, {"n": 1}, now=clock.now(), run_after=run_after, max_attempts=max_attempts
        )
    )


def _row(db: Database, job_id: UUID) -> RowMapping:
    return db.read(
        lambda conn: conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
    )


def test_claim_marks_running_under_a_lease(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock)

    [job] = queue.claim(db, clock, "w1", lease_seconds=60)

    assert (job.id, job.kind, job.payload, job.attempt) == (job_id, "test.job", {"n": 1}, 1)
    row = _row(db, job_id)
    assert row["status"] == "running"
    assert row["locked_by"] == "w1"
    assert row["attempts"] == 1
    assert row["lease_until"] == clock.now() + timedelta(seconds=60)
    assert queue.claim(db, clock, "w2") == []


def test_claim_skips_jobs_not_yet_due_and_takes_oldest_first(
    db: Database, clock: ManualClock
) -> None:
    later = _enqueue(db, clock, run_after=clock.now() + timedelta(minutes=5))
    first = _enqueue(db, clock, run_after=clock.now() - timedelta(minutes=2))
    second = _enqueue(db, clock, run_after=clock.now() - timedelta(minutes=1))

    assert [j.id for j in queue.claim(db, clock, "w1", limit=1)] == [first]
    assert [j.id for j in queue.claim(db, clock, "w1", limit=5)] == [second]
    queue.complete(db, clock, first)
    queue.complete(db, clock, second)
    clock.advance(timedelta(minutes=5))
    assert [j.id for j in queue.claim(db, clock, "w1")] == [later]


def test_complete_marks_done(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock)
    queue.claim(db, clock, "w1")
    clock.advance(timedelta(seconds=3))

    assert queue.complete(db, clock, job_id, worker_id="w1")

    row = _row(db, job_id)
    assert row["status"] == "done"
    assert row["finished_at"] == clock.now()
    assert row["lease_until"] is None
    assert queue.claim(db, clock, "w1") == []


def test_expired_lease_makes_a_job_claimable_again(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock)
    queue.claim(db, clock, "dead-worker", lease_seconds=60)

    clock.advance(timedelta(seconds=59))
    assert queue.claim(db, clock, "w2") == []
    clock.advance(timedelta(seconds=1))
    [job] = queue.claim(db, clock, "w2", lease_seconds=60)

    assert (job.id, job.attempt) == (job_id, 2)
    # The worker that lost its lease can no longer finish or fail the job ...
    assert not queue.complete(db, clock, job_id, worker_id="dead-worker")
    assert queue.fail(db, clock, job_id, "boom", worker_id="dead-worker") is None
    assert not queue.extend_lease(db, clock, job_id, "dead-worker")
    # ... its new owner can.
    assert queue.complete(db, clock, job_id, worker_id="w2")
    assert _row(db, job_id)["status"] == "done"


def test_extend_lease_keeps_a_job(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock)
    queue.claim(db, clock, "w1", lease_seconds=60)
    clock.advance(timedelta(seconds=50))

    assert queue.extend_lease(db, clock, job_id, "w1", lease_seconds=60)
    clock.advance(timedelta(seconds=50))
    assert queue.claim(db, clock, "w2") == []


def test_a_job_that_loses_its_last_lease_goes_dead(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock, max_attempts=1)
    queue.claim(db, clock, "w1", lease_seconds=60)
    clock.advance(timedelta(seconds=61))

    assert queue.claim(db, clock, "w2") == []

    row = _row(db, job_id)
    assert row["status"] == "dead"
    assert "lease expired during attempt 1 of 1 (worker w1)" in str(row["last_error"])


def test_fail_backs_off_then_dead_after_max_attempts(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock, max_attempts=3)
    expected_ceilings = [10, 20]
    for attempt, ceiling in enumerate(expected_ceilings, start=1):
        [job] = queue.claim(db, clock, "w1")
        assert job.attempt == attempt
        assert queue.fail(db, clock, job_id, f"error {attempt}", worker_id="w1") == "pending"
        row = _row(db, job_id)
        assert row["last_error"] == f"error {attempt}"
        delay = (row["run_after"] - clock.now()).total_seconds()
        assert ceiling / 2 <= delay <= ceiling
        assert queue.claim(db, clock, "w1") == []  # not due yet
        clock.advance(timedelta(seconds=delay))

    [job] = queue.claim(db, clock, "w1")
    assert job.attempt == 3
    assert queue.fail(db, clock, job_id, "final error", worker_id="w1") == "dead"
    row = _row(db, job_id)
    assert (row["status"], row["last_error"], row["finished_at"]) == (
        "dead",
        "final error",
        clock.now(),
    )
    clock.advance(timedelta(days=1))
    assert queue.claim(db, clock, "w1") == []


def test_retry_brings_a_dead_job_back(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock, max_attempts=1)
    queue.claim(db, clock, "w1")
    queue.fail(db, clock, job_id, "boom", worker_id="w1")
    clock.advance(timedelta(hours=2))

    queue.retry(db, clock, job_id)

    row = _row(db, job_id)
    assert (row["status"], row["attempts"], row["run_after"]) == ("pending", 0, clock.now())
    assert row["finished_at"] is None
    [job] = queue.claim(db, clock, "w2")
    assert (job.id, job.attempt) == (job_id, 1)


def test_retry_refuses_live_and_unknown_jobs(db: Database, clock: ManualClock) -> None:
    job_id = _enqueue(db, clock)
    with pytest.raises(Conflict) as conflict:
        queue.retry(db, clock, job_id)
    assert conflict.value.code == "job_not_dead"
    with pytest.raises(NotFound):
        queue.retry(db, clock, UUID(int=1))


def test_list_jobs_filters_by_status_and_kind(db: Database, clock: ManualClock) -> None:
    a = _enqueue(db, clock, "kind.a")
    clock.advance(timedelta(seconds=1))
    b = _enqueue(db, clock, "kind.b")
    clock.advance(timedelta(seconds=1))
    c = _enqueue(db, clock, "kind.a")
    queue.claim(db, clock, "w1", limit=1)  # claims a
    queue.complete(db, clock, a)

    assert [r.id for r in queue.list_jobs(db)] == [c, b, a]
    assert [r.id for r in queue.list_jobs(db, kind="kind.a")] == [c, a]
    assert [r.id for r in queue.list_jobs(db, status="pending")] == [c, b]
    assert [r.id for r in queue.list_jobs(db, status="done", kind="kind.a")] == [a]
    assert [r.id for r in queue.list_jobs(db, limit=1)] == [c]
    with pytest.raises(InvalidInput):
        queue.list_jobs(db, status="bogus")
