"""``coffer db upgrade`` and ``coffer audit``."""

from __future__ import annotations

import sys

import typer

from coffer.cli.context import runtime
from coffer.ledger.invariants import check_all
from coffer.migrations import upgrade as upgrade_schema

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    rt = runtime()
    upgrade_schema(rt.db.engine)
    typer.echo(f"database at head: {rt.db.engine.url.render_as_string(hide_password=True)}")


def audit() -> None:
    """Check every ledger invariant; exit 1 and list the violating rows if any fail."""
    violations = runtime().db.read(check_all)
    if not violations:
        typer.echo("ledger invariants: all hold")
        return
    for violation in violations:
        typer.echo(f"{violation.rule}: {violation.detail}")
    typer.echo(f"{len(violations)} violation(s)", err=True)
    sys.exit(1)


def register(root: typer.Typer) -> None:
    root.command("audit")(audit)
