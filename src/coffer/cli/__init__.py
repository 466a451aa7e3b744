"""The ``coffer`` command."""

from __future__ import annotations

import typer

from coffer.cli import admins, bench, cash, database, jobs, running, sandbox, services

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Coffer prepaid-cash billing.")
app.add_typer(database.app, name="db")
app.add_typer(admins.app, name="admin")
app.add_typer(services.app, name="service")
app.add_typer(jobs.app, name="jobs")
app.add_typer(bench.app, name="bench")
app.add_typer(cash.app, name="cash")
running.register(app)
database.register(app)
sandbox.register(app)


def main() -> None:
    app()
