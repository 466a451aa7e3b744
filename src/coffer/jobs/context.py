"""What a job handler is given, and the handler type itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from coffer.db.transaction import Database
from coffer.kernel.clock import Clock


@dataclass(frozen=True, slots=True)
class JobContext:
    """The running job: ``attempt`` is 1 on the first run and counts retries after it."""

    db: Database
    clock: Clock
    job_id: UUID
    kind: str
    service_id: UUID | None
    attempt: int
    max_attempts: int


#: A job handler: called outside any database transaction; raising fails the job (retried with
#: backoff). Handlers must be idempotent: after a lost lease a job can run twice.
Handler = Callable[[JobContext, dict[str, Any]], None]
