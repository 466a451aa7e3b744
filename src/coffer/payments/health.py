"""The circuit breaker of each PG contract: stop routing to a PG that fails or crawls.

Every call to a PG is one row in ``pg_health_calls`` (:func:`record_call`). The breaker is:

- **closed**: calls flow. After a failed or slow call, the calls of the last
  :data:`WINDOW` (at most the newest :data:`MAX_WINDOW_CALLS`) are counted; with at least
  :data:`MIN_CALLS` of them, an error rate of :data:`OPEN_ERROR_RATE_BP` or more, or a p95
  latency of :data:`OPEN_P95_MS` or more, **opens** it.
- **open**: routing skips the contract for :data:`COOL_DOWN`.
- **half_open**: an open breaker whose cool-down has passed (derived from ``opened_at``, never
  stored, so no write is needed when time passes). Calls go through again; the first call that
  comes back ok and faster than :data:`OPEN_P95_MS` closes the breaker, a failed or slow one
  opens it again for another cool-down. Several calls may be in flight while half-open: the
  first to report decides.

A closed breaker counts only the calls from the one that closed it on, so the errors that opened
it do not reopen it. A fast successful call on a closed breaker costs one insert and one no-op
``UPDATE`` (the half-open check); the window is read only after a failed or slow call.
Rows older than :data:`RETENTION` are deleted by :func:`prune_calls` (a periodic job).
Time is always the caller's ``now``, never the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import InvalidInput
from coffer.kernel.ids import uuid7
from coffer.payments.pg_tables import pg_breakers, pg_health_calls

#: The calls that count: those of the last five minutes …
WINDOW = timedelta(minutes=5)
#: … but at most the newest 50, so a busy PG's window stays cheap to read.
MAX_WINDOW_CALLS = 50
#: Fewer calls than this never open the breaker (two failures in a quiet hour are no outage).
MIN_CALLS = 10
#: Open at this error rate or more, in basis points (5000 = 50 %).
OPEN_ERROR_RATE_BP = 5000
#: Open when the 95th percentile latency of the window reaches this many milliseconds.
OPEN_P95_MS = 8000
#: How long an open breaker keeps the contract out of routing before calls are tried again.
COOL_DOWN = timedelta(seconds=60)
#: How long call rows are kept (the health page shows the window; the rest is history).
RETENTION = timedelta(hours=24)
#: Latencies above this are stored as this (the column is a 32-bit integer).
MAX_LATENCY_MS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class WindowStats:
    calls: int
    errors: int
    error_rate_bp: int
    p95_latency_ms: int | None


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A contract's breaker as of ``now``; ``state`` is closed, open or half_open."""

    state: str
    error_rate_bp: int
    p95_latency_ms: int | None
    calls: int
    errors: int
    opened_at: datetime | None
    retry_at: datetime | None
    reason: str


def p95(latencies: Iterable[int]) -> int | None:
    """The nearest-rank 95th percentile (integers only), or None for no calls."""
    ordered = sorted(latencies)
    if not ordered:
        return None
    rank = (95 * len(ordered) + 99) // 100  # ceil(0.95 n)
    return ordered[rank - 1]


def window_stats(rows: Iterable[tuple[bool, int]]) -> WindowStats:
    """Counts, error rate (bp, rounded down) and p95 latency of (ok, latency_ms) calls."""
    calls = list(rows)
    errors = sum(1 for ok, _latency in calls if not ok)
    rate = errors * 10_000 // len(calls) if calls else 0
    return WindowStats(len(calls), errors, rate, p95(latency for _ok, latency in calls))


def trip_reason(stats: WindowStats) -> str | None:
    """Why these stats open a closed breaker, or None when they do not."""
    if stats.calls < MIN_CALLS:
        return None
    if stats.error_rate_bp >= OPEN_ERROR_RATE_BP:
        return f"{stats.errors} of the last {stats.calls} calls failed"
    if stats.p95_latency_ms is not None and stats.p95_latency_ms >= OPEN_P95_MS:
        return f"p95 latency {stats.p95_latency_ms} ms over the last {stats.calls} calls"
    return None


def record_call(
    conn: Connection, contract_id: UUID, *, ok: bool, latency_ms: int, now: datetime
) -> None:
    """Record one PG call and move the breaker if it must (see the module's rules)."""
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int) or latency_ms < 0:
        raise InvalidInput("invalid_latency", "latency_ms must be a whole number of 0 or more.")
    latency = min(latency_ms, MAX_LATENCY_MS)
    conn.execute(
        pg_health_calls.insert().values(
            id=uuid7(), contract_id=contract_id, at=now, ok=ok, latency_ms=latency
        )
    )
    healthy = ok and latency < OPEN_P95_MS
    if healthy:
        _close_if_half_open(conn, contract_id, now)
        return
    row = conn.execute(
        select(pg_breakers.c.state, pg_breakers.c.opened_at).where(
            pg_breakers.c.contract_id == contract_id
        )
    ).first()
    if row is not None and row.state == "open":
        if row.opened_at + COOL_DOWN <= now:  # half-open: the trial failed
            trial = "a call failed while half-open" if not ok else "a slow call while half-open"
            _open(conn, contract_id, now, trial)
        return
    tripped = trip_reason(_window(conn, contract_id, now))
    if tripped is not None:
        _open(conn, contract_id, now, tripped)


def _close_if_half_open(conn: Connection, contract_id: UUID, now: datetime) -> None:
    conn.execute(
        update(pg_breakers)
        .where(
            pg_breakers.c.contract_id == contract_id,
            pg_breakers.c.state == "open",
            pg_breakers.c.opened_at <= now - COOL_DOWN,
        )
        .values(
            state="closed",
            opened_at=None,
            reason="a call succeeded while half-open",
            changed_at=now,
        )
    )


def _open(conn: Connection, contract_id: UUID, now: datetime, reason: str) -> None:
    values = {"state": "open", "opened_at": now, "reason": reason, "changed_at": now}
    if not insert_if_absent(
        conn, pg_breakers, {"contract_id": contract_id, **values}, conflict_on=["contract_id"]
    ):
        conn.execute(
            update(pg_breakers).where(pg_breakers.c.contract_id == contract_id).values(**values)
        )


def _window(conn: Connection, contract_id: UUID, now: datetime) -> WindowStats:
    """The stats of the calls that count now: in :data:`WINDOW`, since the breaker last closed
    (the call that closed it included)."""
    closed_at = conn.execute(
        select(pg_breakers.c.changed_at).where(
            pg_breakers.c.contract_id == contract_id, pg_breakers.c.state == "closed"
        )
    ).scalar_one_or_none()
    since_closed = [] if closed_at is None else [pg_health_calls.c.at >= closed_at]
    rows = conn.execute(
        select(pg_health_calls.c.ok, pg_health_calls.c.latency_ms)
        .where(
            pg_health_calls.c.contract_id == contract_id,
            pg_health_calls.c.at > now - WINDOW,
            pg_health_calls.c.at <= now,
            *since_closed,
        )
        .order_by(pg_health_calls.c.at.desc(), pg_health_calls.c.id.desc())
        .limit(MAX_WINDOW_CALLS)
    ).all()
    return window_stats((bool(ok), int(latency)) for ok, latency in rows)


def breaker_state(conn: Connection, contract_id: UUID, now: datetime) -> BreakerState:
    """The breaker of a contract as of ``now``, with the stats of its current window."""
    row = conn.execute(
        select(pg_breakers.c.state, pg_breakers.c.opened_at, pg_breakers.c.reason).where(
            pg_breakers.c.contract_id == contract_id
        )
    ).first()
    stats = _window(conn, contract_id, now)
    state, opened_at, retry_at, reason = "closed", None, None, ""
    if row is not None:
        reason = row.reason
        if row.state == "open":
            opened_at, retry_at = row.opened_at, row.opened_at + COOL_DOWN
            state = "half_open" if retry_at <= now else "open"
    return BreakerState(
        state=state,
        error_rate_bp=stats.error_rate_bp,
        p95_latency_ms=stats.p95_latency_ms,
        calls=stats.calls,
        errors=stats.errors,
        opened_at=opened_at,
        retry_at=retry_at,
        reason=reason,
    )


def open_contracts(conn: Connection, contract_ids: Iterable[UUID], now: datetime) -> set[UUID]:
    """Which of these contracts have an open breaker still cooling down (one query)."""
    wanted = list(contract_ids)
    if not wanted:
        return set()
    rows = conn.execute(
        select(pg_breakers.c.contract_id).where(
            pg_breakers.c.contract_id.in_(wanted),
            pg_breakers.c.state == "open",
            pg_breakers.c.opened_at > now - COOL_DOWN,
        )
    ).scalars()
    return set(rows)


def prune_calls(conn: Connection, *, now: datetime) -> int:
    """Delete call rows older than :data:`RETENTION`; returns how many went."""
    result = conn.execute(delete(pg_health_calls).where(pg_health_calls.c.at < now - RETENTION))
    return max(result.rowcount, 0)
