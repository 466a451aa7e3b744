"""The worker loop: exclusive claims under concurrency, failure isolation, unknown kinds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from coffer.db.outbox import enqueue, jobs
from coffer.db.transaction import Database
from coffer.jobs.context import JobContext
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock


def _enqueue_many(
    db: Database, clock: ManualClock, kinds: list[str], *, max_attempts: int = 12
) -> list[UUID]:
    return db.write(
        lambda conn: [
            enqueue(conn, kind, {"i": i}, now=clock.now(), max_attempts=max_attempts)
            for i, kind in enumerate(kinds)
        ]
    )


def _statuses(db: Database) -> dict[UUID, tuple[str, str | None]]:
    rows = db.read(
        lambda conn: conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.last_error)).all()
    )
    return {row.id: (row.status, row.last_error) for row in rows}


@pytest.mark.slow
def test_two_workers_in_threads_run_each_job_exactly_once(db: Database, clock: ManualClock) -> None:
    job_ids = _enqueue_many(db, clock, ["count"] * 200)
    runs: Counter[UUID] = Counter()
    running: set[UUID] = set()
    overlaps: list[UUID] = []
    lock = threading.Lock()

    def count(ctx: JobContext, payload: dict[str, Any]) -> None:
        with lock:
            if ctx.job_id in running:
                overlaps.append(ctx.job_id)
            running.add(ctx.job_id)
            runs[ctx.job_id] += 1
        time.sleep(0.0005)
        with lock:
            running.discard(ctx.job_id)

    workers = [
        Worker(db, clock, {"count": count}, worker_id=f"w{i}", batch_size=7) for i in range(2)
    ]
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            start.wait()
            while worker.run_once():
                pass
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert overlaps == []
    assert set(runs) == set(job_ids)
    assert set(runs.values()) == {1}
    assert {status for status, _ in _statuses(db).values()} == {"done"}


def test_a_failing_handler_fails_only_its_own_job(db: Database, clock: ManualClock) -> None:
    ok_1, bad, ok_2 = _enqueue_many(db, clock, ["ok", "bad", "ok"])
    seen: list[JobContext] = []

    def ok(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append(ctx)

    def fails(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    worker = Worker(db, clock, {"ok": ok, "bad": fails}, worker_id="w1")

    assert worker.run_once() == 3

    statuses = _statuses(db)
    assert statuses[ok_1] == ("done", None)
    assert statuses[ok_2] == ("done", None)
    status, error = statuses[bad]
    assert status == "pending"
    assert error is not None
    assert error.startswith("RuntimeError: boom\n")
    assert "Traceback" in error
    assert [(c.job_id, c.kind, c.attempt, c.db, c.clock) for c in seen] == [
        (ok_1, "ok", 1, db, clock),
        (ok_2, "ok", 1, db, clock),
    ]


def test_unknown_kind_ends_dead_with_a_clear_error(db: Database, clock: ManualClock) -> None:
    [job_id] = _enqueue_many(db, clock, ["no.such.kind"], max_attempts=2)
    worker = Worker(db, clock, {}, worker_id="w1")

    assert worker.run_once() == 1
    assert _statuses(db)[job_id][0] == "pending"
    clock.advance(timedelta(hours=1))
    assert worker.run_once() == 1

    status, error = _statuses(db)[job_id]
    assert status == "dead"
    assert error is not None
    assert error.startswith("UnknownJobKind: no handler registered for job kind 'no.such.kind'")


def test_handler_sees_service_and_attempt(db: Database, clock: ManualClock) -> None:
    service_id = UUID(int=42)
    db.write(lambda conn: enqueue(conn, "flaky", {}, now=clock.now(), service_id=service_id))
    attempts: list[tuple[UUID | None, int, int]] = []

    def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append((ctx.service_id, ctx.attempt, ctx.max_attempts))
        if ctx.attempt == 1:
            raise RuntimeError("first time fails")

    worker = Worker(db, clock, {"flaky": flaky}, worker_id="w1")
    worker.run_once()
    clock.advance(timedelta(hours=1))
    worker.run_once()

    assert attempts == [(service_id, 1, 12), (service_id, 2, 12)]


def test_run_forever_works_until_stopped(db: Database, clock: ManualClock) -> None:
    done = threading.Event()
    _enqueue_many(db, clock, ["note"] * 3)
    seen: list[UUID] = []

    def note(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append(ctx.job_id)
        if len(seen) == 3:
            done.set()

    stop = threading.Event()
    worker = Worker(db, clock, {"note": note}, worker_id="w1", poll_seconds=0.01)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        assert done.wait(timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(seen) == 3
