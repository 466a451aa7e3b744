"""The breaker's pure rules: p95 by nearest rank, error rate in basis points, when it trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.payments.health import (
    MIN_CALLS,
    OPEN_ERROR_RATE_BP,
    OPEN_P95_MS,
    WindowStats,
    p95,
    trip_reason,
    window_stats,
)


@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        ([], None),
        ([7], 7),
        (list(range(1, 101)), 95),
        (list(range(1, 21)), 19),
        ([10] * 19 + [9000], 10),  # one slow call in 20 is the 100th percentile, not the 95th
        ([10] * 18 + [9000, 9000], 9000),
        ([5, 1, 3], 5),
    ],
)
def test_p95_is_the_nearest_rank(latencies: list[int], expected: int | None) -> None:
    assert p95(latencies) == expected


@given(st.lists(st.integers(0, 60_000), min_size=1, max_size=200))
def test_p95_is_one_of_the_latencies_and_at_least_95_percent_are_not_above_it(
    latencies: list[int],
) -> None:
    value = p95(latencies)
    assert value in latencies
    assert sum(1 for x in latencies if x <= value) * 100 >= 95 * len(latencies)


def test_window_stats_count_errors_in_basis_points_rounded_down() -> None:
    stats = window_stats([(True, 100), (False, 200), (True, 300)])
    assert stats == WindowStats(calls=3, errors=1, error_rate_bp=3333, p95_latency_ms=300)
    assert window_stats([]) == WindowStats(0, 0, 0, None)


def _stats(calls: int, errors: int, latency: int = 100) -> WindowStats:
    rows = [(False, latency)] * errors + [(True, latency)] * (calls - errors)
    return window_stats(rows)


def test_trips_at_half_the_calls_failing_once_there_are_enough_calls() -> None:
    assert OPEN_ERROR_RATE_BP == 5000
    assert trip_reason(_stats(MIN_CALLS - 1, MIN_CALLS - 1)) is None  # too few to judge
    assert trip_reason(_stats(MIN_CALLS, MIN_CALLS // 2 - 1)) is None
    assert trip_reason(_stats(MIN_CALLS, MIN_CALLS // 2)) == "5 of the last 10 calls failed"


def test_trips_on_a_slow_p95() -> None:
    assert trip_reason(_stats(MIN_CALLS, 0, OPEN_P95_MS - 1)) is None
    reason = trip_reason(_stats(MIN_CALLS, 0, OPEN_P95_MS))
    assert reason == f"p95 latency {OPEN_P95_MS} ms over the last {MIN_CALLS} calls"
