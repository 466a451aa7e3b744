"""Pure parts of the job queue: the backoff curve and the admin listing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from coffer.jobs.queue import JobRow, backoff_seconds
from coffer.jobs.report import format_jobs_table


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 10), (2, 20), (3, 40), (6, 320), (9, 2560), (10, 3600), (50, 3600)],
)
def test_backoff_doubles_from_ten_seconds_up_to_an_hour(attempt: int, ceiling: float) -> None:
    assert backoff_seconds(attempt, lambda: 0.0) == ceiling / 2
    assert backoff_seconds(attempt, lambda: 1.0) == ceiling
    assert ceiling / 2 <= backoff_seconds(attempt) <= ceiling


BASE = JobRow(
    id=UUID("01900000-0000-7000-8000-000000000001"),
    kind="webhook.deliver",
    status="dead",
    service_id=None,
    attempts=12,
    max_attempts=12,
    run_after=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    lease_until=None,
    locked_by=None,
    last_error="WebhookDeliveryError: HTTP 500\n\nTraceback (most recent call last): ...",
    created_at=datetime(2026, 3, 1, tzinfo=UTC),
    finished_at=None,
    payload={},
)


def test_format_jobs_table() -> None:
    rows = [
        BASE,
        replace(
            BASE,
            id=UUID("01900000-0000-7000-8000-000000000002"),
            kind="ledger.audit",
            status="pending",
            attempts=0,
            max_attempts=3,
            service_id=UUID("01900000-0000-7000-8000-0000000000aa"),
            last_error="x" * 200,
        ),
    ]

    lines = format_jobs_table(rows).splitlines()

    assert lines[0].startswith("id" + " " * 36 + "kind")
    assert "run after (UTC)" in lines[0]
    assert lines[1].split("  ")[0] == "01900000-0000-7000-8000-000000000001"
    assert "webhook.deliver" in lines[1]
    assert "12/12" in lines[1]
    assert "2026-03-01 09:30:00" in lines[1]
    assert lines[1].rstrip().endswith("WebhookDeliveryError: HTTP 500")
    assert "Traceback" not in lines[1]
    assert "0/3" in lines[2]
    assert "01900000-0000-7000-8000-0000000000aa" in lines[2]
    assert lines[2].endswith("x" * 59 + "…")
    assert lines[1].index("dead") == lines[0].index("status") == lines[2].index("pending")


def test_format_jobs_table_empty() -> None:
    assert format_jobs_table([]) == "no jobs"
