"""``coffer db upgrade`` and ``coffer audit`` (ledger invariants and the audit hash chain)."""

from __future__ import annotations

import sys

import typer

from coffer.audit.service import verify as verify_chain
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
    """Check the ledger invariants and the audit log's hash chain; exit 1 if either fails."""
    rt = runtime()
    violations = rt.db.read(check_all)
    broken = rt.db.read(verify_chain)
    if violations:
        for violation in violations:
            typer.echo(f"{violation.rule}: {violation.detail}")
        typer.echo(f"{len(violations)} violation(s)", err=True)
    else:
        typer.echo("ledger invariants: all hold")
    if broken is not None:
        row = f" (id {broken.id})" if broken.id is not None else ""
        typer.echo(f"audit log: chain broken at seq {broken.seq}{row}: {broken.why}")
    else:
        typer.echo("audit log: hash chain intact")
    if violations or broken is not None:
        sys.exit(1)


def register(root: typer.Typer) -> None:
    root.command("audit")(audit)
