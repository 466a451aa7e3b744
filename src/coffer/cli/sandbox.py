"""``coffer sandbox-pg``: run the sandbox payment gateway (its own port and SQLite file)."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from coffer.sandbox_pg.app import create_app
from coffer.sandbox_pg.config import SandboxSettings, admin_token_from_env


def sandbox_pg(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8100, help="Port."),
    data_dir: Path = typer.Option(Path("var/sandbox-pg"), help="Where its SQLite file lives."),
) -> None:
    """Run the sandbox PG (test payment gateway); see docs/sandbox-pg.md."""
    settings = SandboxSettings(data_dir=data_dir, admin_token=admin_token_from_env())
    typer.echo(
        f"Sandbox PG on http://{host}:{port} — demo merchant client key test_ck_coffer_demo, "
        "secret key test_sk_coffer_demo, webhook secret whsec_coffer_demo"
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    app.command("sandbox-pg")(sandbox_pg)
