"""``coffer jobs list|retry``: see the job queue and put dead jobs back."""

from __future__ import annotations

from uuid import UUID

import typer

from coffer.cli.context import guarded, runtime
from coffer.jobs import queue
from coffer.jobs.report import format_jobs_table

app = typer.Typer(no_args_is_help=True, help="The job queue (outbox).")


@app.command("list")
def list_jobs(
    status: str | None = typer.Option(None, help="pending, running, done or dead."),
    kind: str | None = typer.Option(None, help="Only jobs of this kind."),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """List jobs, newest first."""
    rt = runtime()
    rows = guarded(lambda: queue.list_jobs(rt.db, status=status, kind=kind, limit=limit))
    typer.echo(format_jobs_table(rows))


@app.command()
def retry(job_id: UUID = typer.Argument(..., help="Id of a dead job.")) -> None:
    """Put a dead job back in the queue, due now, with its attempts reset."""
    rt = runtime()
    guarded(lambda: queue.retry(rt.db, rt.clock, job_id))
    typer.echo(f"job {job_id} queued again")
