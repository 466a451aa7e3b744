"""``coffer service …``: create services and manage their API keys."""

from __future__ import annotations

from uuid import UUID

import typer

from coffer import app as usecases
from coffer.cli.context import emit_json, guarded, runtime
from coffer.tenancy import service as tenancy

app = typer.Typer(no_args_is_help=True, help="Services (tenants) and their API keys.")
keys = typer.Typer(no_args_is_help=True, help="API keys of a service.")
app.add_typer(keys, name="key")


@app.command()
def create(
    name: str = typer.Option(..., help="Service name."),
    currency: str = typer.Option("KRW", help="ISO 4217 currency of the service's cash."),
    timezone: str = typer.Option("Asia/Seoul", help="IANA time zone for business dates."),
) -> None:
    """Create a service; prints its id and a first API key (shown only this once)."""
    rt = runtime()
    service, key = guarded(
        lambda: rt.db.write(
            lambda conn: usecases.create_service(
                conn, name=name, currency=currency, timezone=timezone, clock=rt.clock
            )
        )
    )
    emit_json(
        {
            "service_id": str(service.id),
            "name": service.name,
            "currency": service.currency,
            "timezone": service.timezone,
            "api_key": key.plaintext,
            "key_prefix": key.prefix,
        }
    )


@app.command("list")
def list_services() -> None:
    """List services."""
    rt = runtime()
    services = rt.db.read(tenancy.list_services)
    emit_json(
        [
            {
                "service_id": str(s.id),
                "name": s.name,
                "currency": s.currency,
                "timezone": s.timezone,
            }
            for s in services
        ]
    )


@keys.command("create")
def create_key(
    service: UUID = typer.Option(..., help="Service id."),
    label: str = typer.Option("", help="What the key is for."),
) -> None:
    """Create another API key; the key is shown only this once."""
    rt = runtime()
    key = guarded(
        lambda: rt.db.write(
            lambda conn: tenancy.create_api_key(conn, service, now=rt.clock.now(), label=label)
        )
    )
    emit_json({"service_id": str(service), "api_key": key.plaintext, "key_prefix": key.prefix})


@keys.command("revoke")
def revoke_key(
    service: UUID = typer.Option(..., help="Service id."),
    prefix: str = typer.Option(..., help="The key's prefix (the 12 characters after ck_)."),
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    rt = runtime()
    guarded(
        lambda: rt.db.write(
            lambda conn: tenancy.revoke_api_key(conn, service, prefix, now=rt.clock.now())
        )
    )
    emit_json({"service_id": str(service), "revoked": prefix})


@keys.command("list")
def list_keys(service: UUID = typer.Option(..., help="Service id.")) -> None:
    """List a service's keys (prefixes only)."""
    rt = runtime()
    emit_json(rt.db.read(lambda conn: tenancy.list_api_keys(conn, service)))
