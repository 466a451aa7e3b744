"""When the janitor asks a PG again about a charge or refund whose outcome is not known."""

from __future__ import annotations

from datetime import datetime, timedelta

#: Delay before each check: 1 min, 5 min, 30 min, 2 h, then daily for a week. A charge still
#: open after the last one is flagged for a person (``attention = janitor_gave_up``).
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    *(timedelta(days=1),) * 7,
)
GAVE_UP = "janitor_gave_up"


def next_check(checks_done: int, now: datetime) -> datetime | None:
    """When to check after ``checks_done`` checks, or None when the schedule is spent."""
    if checks_done >= len(SCHEDULE):
        return None
    return now + SCHEDULE[checks_done]
