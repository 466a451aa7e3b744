"""The schedule: each entry fires once per interval, even with several workers racing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.jobs.schedule import DEFAULT_SCHEDULE, ScheduleEntry, fire_due
from coffer.jobs.tables import schedules
from coffer.jobs.worker import Worker
from coffer.kernel.clock import ManualClock

TICK = ScheduleEntry("tick", "test.tick", 60)
TOCK = ScheduleEntry("tock", "test.tock", 300)


def _count(db: Database, kind: str) -> int:
    return db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.kind == kind)
        ).scalar_one()
    )


def test_fires_on_first_sight_then_once_per_interval(db: Database, clock: ManualClock) -> None:
    start = clock.now()
    assert fire_due(db, clock, [TICK, TOCK]) == ["tick", "tock"]
    assert fire_due(db, clock, [TICK, TOCK]) == []

    clock.advance(timedelta(seconds=59))
    assert fire_due(db, clock, [TICK, TOCK]) == []
    clock.advance(timedelta(seconds=1))
    assert fire_due(db, clock, [TICK, TOCK]) == ["tick"]

    assert (_count(db, "test.tick"), _count(db, "test.tock")) == (2, 1)
    row = db.read(
        lambda conn: conn.execute(select(schedules).where(schedules.c.name == "tick")).one()
    )
    assert row.next_run_at == start + timedelta(seconds=120)
    assert row.last_run_at == clock.now()
    payload = db.read(
        lambda conn: (
            conn.execute(
                select(jobs.c.payload).where(jobs.c.kind == "test.tick").order_by(jobs.c.id.desc())
            )
            .scalars()
            .first()
        )
    )
    assert payload == {
        "schedule": "tick",
        "scheduled_for": (start + timedelta(seconds=60)).isoformat(),
    }


def test_after_downtime_fires_once_and_stays_on_its_grid(db: Database, clock: ManualClock) -> None:
    start = clock.now()
    fire_due(db, clock, [TICK])
    clock.advance(timedelta(seconds=60 * 10 + 15))

    assert fire_due(db, clock, [TICK]) == ["tick"]
    assert fire_due(db, clock, [TICK]) == []

    assert _count(db, "test.tick") == 2
    next_run = db.read(
        lambda conn: conn.execute(
            select(schedules.c.next_run_at).where(schedules.c.name == "tick")
        ).scalar_one()
    )
    assert next_run == start + timedelta(seconds=60 * 11)


@pytest.mark.slow
def test_two_racing_workers_fire_once_per_interval(db: Database, clock: ManualClock) -> None:
    rounds = 12
    racers = 2
    barrier = threading.Barrier(racers + 1)
    fired: list[list[str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def race() -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=60)  # clock has been moved
                names = fire_due(db, clock, [TICK])
                with lock:
                    fired.append(names)
                barrier.wait(timeout=60)  # round finished
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for _ in range(rounds):
        barrier.wait(timeout=60)
        barrier.wait(timeout=60)
        clock.advance(timedelta(seconds=TICK.interval_seconds))
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(fired) == rounds * racers
    assert sum(len(names) for names in fired) == rounds
    assert _count(db, "test.tick") == rounds


def test_a_scheduler_worker_fires_the_default_schedule(db: Database, clock: ManualClock) -> None:
    ran: list[str] = []
    handlers = {
        entry.kind: (lambda ctx, payload: ran.append(ctx.kind)) for entry in DEFAULT_SCHEDULE
    }
    plain = Worker(db, clock, handlers, worker_id="plain")
    scheduler = Worker(db, clock, handlers, worker_id="sched", scheduler=True)

    assert plain.run_once() == 0
    assert scheduler.run_once() == len(DEFAULT_SCHEDULE)
    assert sorted(ran) == [
        "grades.recompute",
        "idempotency.purge",
        "ledger.audit",
        "ledger.expire_holds",
        "ledger.expire_lots",
        "payments.janitor",
        "payments.prune_health",
        "sessions.purge",
        "usage.close_stale",
    ]

    clock.advance(timedelta(seconds=30))
    ran.clear()
    assert scheduler.run_once() == 1
    assert ran == ["ledger.expire_holds"]
