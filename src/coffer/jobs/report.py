"""Plain-text rendering of job listings for the ``coffer jobs list`` command."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from coffer.jobs.queue import JobRow

_COLUMNS = ("id", "kind", "status", "tries", "run after (UTC)", "service", "last error")
_ERROR_WIDTH = 60


def format_jobs_table(rows: Sequence[JobRow]) -> str:
    """A fixed-width table, one job per line; only the first line of each error is shown."""
    if not rows:
        return "no jobs"
    lines = [_COLUMNS] + [
        (
            str(row.id),
            row.kind,
            row.status,
            f"{row.attempts}/{row.max_attempts}",
            _when(row.run_after),
            str(row.service_id) if row.service_id else "-",
            _first_line(row.last_error),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _first_line(error: str | None) -> str:
    if not error:
        return "-"
    line = error.strip().splitlines()[0] if error.strip() else "-"
    return line if len(line) <= _ERROR_WIDTH else line[: _ERROR_WIDTH - 1] + "…"
