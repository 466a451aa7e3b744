"""The circuit breaker on both databases, with a manual clock: open, half-open, closed."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict
from coffer.payments import health, routing
from coffer.payments.health import COOL_DOWN, MIN_CALLS, OPEN_P95_MS, WINDOW, BreakerState
from coffer.payments.routing import NoPgAvailable
from tests.integration.pg_support import count, new_contract
from tests.ledger_helpers import new_service


def _call(
    db: Database, clock: ManualClock, contract_id: UUID, *, ok: bool, latency_ms: int = 120
) -> None:
    db.write(
        lambda c: health.record_call(c, contract_id, ok=ok, latency_ms=latency_ms, now=clock.now())
    )


def _state(db: Database, clock: ManualClock, contract_id: UUID) -> BreakerState:
    return db.read(lambda c: health.breaker_state(c, contract_id, clock.now()))


def _routed(db: Database, clock: ManualClock, service_id: UUID) -> list[str]:
    found = db.read(lambda c: routing.route(c, service_id, "card", pg=None, now=clock.now()))
    return [contract.name for contract in found]


@pytest.fixture
def pair(db: Database, clock: ManualClock) -> tuple[UUID, UUID, UUID]:
    """(service id, first contract id, second contract id), both offering cards."""
    service = new_service(db, clock)
    first = new_contract(db, clock, service.id, "First")
    second = new_contract(db, clock, service.id, "Second")
    return service.id, first.id, second.id


def test_opens_when_half_the_calls_fail_and_routing_skips_it(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    service_id, first, _second = pair
    for _ in range(MIN_CALLS - 1):
        _call(db, clock, first, ok=False)
    assert _state(db, clock, first).state == "closed"  # too few calls to judge
    assert _routed(db, clock, service_id) == ["First", "Second"]
    _call(db, clock, first, ok=True)
    _call(db, clock, first, ok=False)
    state = _state(db, clock, first)
    assert (state.state, state.calls, state.errors, state.error_rate_bp) == ("open", 11, 10, 9090)
    assert state.opened_at == clock.now()
    assert state.retry_at == clock.now() + COOL_DOWN
    assert "failed" in state.reason
    assert _routed(db, clock, service_id) == ["Second"]


def test_a_healthy_pg_stays_closed(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    _service_id, first, _second = pair
    for index in range(3 * MIN_CALLS):
        _call(db, clock, first, ok=index % 3 != 0)  # a third fail
        clock.advance(timedelta(seconds=1))
    state = _state(db, clock, first)
    assert (state.state, state.errors, state.error_rate_bp) == ("closed", 10, 3333)


def test_opens_on_p95_latency(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    _service_id, first, _second = pair
    for _ in range(MIN_CALLS - 1):
        _call(db, clock, first, ok=True, latency_ms=OPEN_P95_MS + 500)
    assert _state(db, clock, first).state == "closed"
    _call(db, clock, first, ok=True, latency_ms=OPEN_P95_MS + 500)
    state = _state(db, clock, first)
    assert (state.state, state.errors, state.p95_latency_ms) == ("open", 0, OPEN_P95_MS + 500)
    assert "p95" in state.reason


def _trip(db: Database, clock: ManualClock, contract_id: UUID) -> None:
    for _ in range(MIN_CALLS):
        _call(db, clock, contract_id, ok=False)
    assert _state(db, clock, contract_id).state == "open"


def test_half_open_after_the_cool_down_and_a_success_closes_it(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    service_id, first, _second = pair
    _trip(db, clock, first)
    clock.advance(COOL_DOWN - timedelta(seconds=1))
    _call(db, clock, first, ok=True)  # a late reply while open changes nothing
    assert _state(db, clock, first).state == "open"
    assert _routed(db, clock, service_id) == ["Second"]
    clock.advance(timedelta(seconds=1))
    assert _state(db, clock, first).state == "half_open"
    assert _routed(db, clock, service_id) == ["First", "Second"]  # half-open lets calls through
    _call(db, clock, first, ok=True)
    state = _state(db, clock, first)
    assert (state.state, state.calls, state.errors, state.opened_at) == ("closed", 1, 0, None)
    # The failures that opened it are history: one more failure does not reopen it.
    _call(db, clock, first, ok=False)
    assert _state(db, clock, first).state == "closed"
    assert _routed(db, clock, service_id) == ["First", "Second"]


def test_a_failed_or_slow_half_open_call_reopens_it(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    service_id, first, _second = pair
    _trip(db, clock, first)
    clock.advance(COOL_DOWN)
    _call(db, clock, first, ok=False)
    state = _state(db, clock, first)
    assert (state.state, state.opened_at) == ("open", clock.now())
    assert state.reason == "a call failed while half-open"
    clock.advance(COOL_DOWN)
    _call(db, clock, first, ok=True, latency_ms=OPEN_P95_MS)
    assert _state(db, clock, first).state == "open"
    clock.advance(COOL_DOWN)
    _call(db, clock, first, ok=True, latency_ms=OPEN_P95_MS - 1)
    assert _state(db, clock, first).state == "closed"
    assert _routed(db, clock, service_id) == ["First", "Second"]


def test_only_the_window_counts(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    _service_id, first, _second = pair
    for _ in range(MIN_CALLS - 1):
        _call(db, clock, first, ok=False)
    clock.advance(WINDOW)
    _call(db, clock, first, ok=False)
    state = _state(db, clock, first)
    assert (state.state, state.calls) == ("closed", 1)


def test_the_window_is_the_newest_calls_only(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    _service_id, first, _second = pair
    for _ in range(health.MAX_WINDOW_CALLS):
        _call(db, clock, first, ok=False, latency_ms=10)
        _call(db, clock, first, ok=True, latency_ms=10)
    clock.advance(COOL_DOWN)
    assert _state(db, clock, first).state == "half_open"
    _call(db, clock, first, ok=True)
    for _ in range(health.MAX_WINDOW_CALLS):
        _call(db, clock, first, ok=True)
    _call(db, clock, first, ok=False)
    state = _state(db, clock, first)
    assert (state.state, state.calls, state.errors) == (
        "closed",
        health.MAX_WINDOW_CALLS,
        1,
    )


def test_every_candidate_open_is_no_pg_available_503(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    service_id, first, second = pair
    _trip(db, clock, first)
    _trip(db, clock, second)
    with pytest.raises(NoPgAvailable) as refused:
        _routed(db, clock, service_id)
    assert (refused.value.code, refused.value.status) == ("no_pg_available", 503)
    assert isinstance(refused.value, Conflict)
    clock.advance(COOL_DOWN)
    assert _routed(db, clock, service_id) == ["First", "Second"]


def test_prune_keeps_recent_calls(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID]
) -> None:
    _service_id, first, _second = pair
    _call(db, clock, first, ok=True)
    clock.advance(health.RETENTION)
    _call(db, clock, first, ok=True)
    assert db.write(lambda c: health.prune_calls(c, now=clock.now())) == 0
    clock.advance(timedelta(seconds=1))
    assert db.write(lambda c: health.prune_calls(c, now=clock.now())) == 1
    assert count(db, "pg_health_calls") == 1


@pytest.mark.parametrize("latency", [-1, 1.5, True])
def test_a_bad_latency_is_refused_and_nothing_recorded(
    db: Database, clock: ManualClock, pair: tuple[UUID, UUID, UUID], latency: object
) -> None:
    _service_id, first, _second = pair
    with pytest.raises(Exception, match="latency_ms"):
        _call(db, clock, first, ok=True, latency_ms=latency)  # type: ignore[arg-type]
    assert count(db, "pg_health_calls") == 0
