"""The worker loop: claim a batch of due jobs, run each handler, record the outcome.

Handlers run outside any database transaction (they may call PGs and webhooks). An exception in a
handler fails that job only; the rest of the batch still runs. Any number of workers may run at
once, in threads or processes; one or more of them may also fire the schedule (it is race-safe).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import timedelta

from coffer.db.transaction import Database
from coffer.jobs import queue
from coffer.jobs.context import Handler, JobContext
from coffer.jobs.schedule import DEFAULT_SCHEDULE, ScheduleEntry, fire_due
from coffer.kernel.clock import Clock
from coffer.kernel.ids import uuid7

log = logging.getLogger(__name__)


class UnknownJobKind(Exception):
    """No handler is registered for a job's kind (it fails, and ends dead after its attempts)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid7().hex[-8:]}"


class Worker:
    """Runs jobs from the queue; construct once per thread or process and call a ``run_*``."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        worker_id: str | None = None,
        poll_seconds: float = 1.0,
        *,
        batch_size: int = 10,
        lease_seconds: float = queue.DEFAULT_LEASE_SECONDS,
        scheduler: bool = False,
        schedule: Iterable[ScheduleEntry] = DEFAULT_SCHEDULE,
    ) -> None:
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.scheduler = scheduler
        self.schedule = tuple(schedule)

    def run_once(self) -> int:
        """Fire due schedule entries (if the scheduler), then run one batch; return its size."""
        if self.scheduler and self.schedule:
            fire_due(self.db, self.clock, self.schedule)
        batch = queue.claim(
            self.db,
            self.clock,
            self.worker_id,
            limit=self.batch_size,
            lease_seconds=self.lease_seconds,
        )
        for job in batch:
            self._run(job)
        return len(batch)

    def run_forever(self, stop_event: threading.Event) -> None:
        """Loop until ``stop_event`` is set, sleeping ``poll_seconds`` when the queue is idle."""
        log.info("worker %s started (scheduler=%s)", self.worker_id, self.scheduler)
        while not stop_event.is_set():
            try:
                busy = self.run_once() == self.batch_size
            except Exception:
                log.exception("worker %s: loop failed; retrying", self.worker_id)
                busy = False
            if not busy:
                stop_event.wait(self.poll_seconds)
        log.info("worker %s stopped", self.worker_id)

    def _run(self, job: queue.ClaimedJob) -> None:
        if not self._still_mine(job):
            log.warning("job %s (%s): lease lost before it started; skipped", job.id, job.kind)
            return
        context = JobContext(
            db=self.db,
            clock=self.clock,
            job_id=job.id,
            kind=job.kind,
            service_id=job.service_id,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
        )
        try:
            handler = self.handlers.get(job.kind)
            if handler is None:
                raise UnknownJobKind(f"no handler registered for job kind {job.kind!r}")
            handler(context, job.payload)
        except Exception as error:
            status = queue.fail(
                self.db, self.clock, job.id, _describe(error), worker_id=self.worker_id
            )
            log.warning(
                "job %s (%s) attempt %d/%d failed -> %s: %s",
                job.id,
                job.kind,
                job.attempt,
                job.max_attempts,
                status or "lease lost",
                error,
            )
            return
        if not queue.complete(self.db, self.clock, job.id, worker_id=self.worker_id):
            log.warning("job %s (%s) finished after its lease was lost", job.id, job.kind)

    def _still_mine(self, job: queue.ClaimedJob) -> bool:
        """Renew the lease if half of it went by while earlier jobs of the batch ran."""
        if self.clock.now() < job.lease_until - timedelta(seconds=self.lease_seconds / 2):
            return True
        return queue.extend_lease(
            self.db, self.clock, job.id, self.worker_id, lease_seconds=self.lease_seconds
        )


def _describe(error: Exception) -> str:
    """``Type: message`` first (what listings show), then the traceback."""
    summary = f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(error)).rstrip()
    return f"{summary}\n\n{trace}"
