"""``coffer cash …``: signed links to the member cash web, and the key that signs them.

``coffer cash link`` prints a fresh link (good for 5 minutes), for demos and for customer
support; a service builds its own links the same way (``docs/cash-web.md``).
"""

from __future__ import annotations

from uuid import UUID

import typer
from sqlalchemy.engine import Connection

from coffer.app import Runtime
from coffer.cli.context import emit_json, guarded, runtime
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import LINK_TTL_SECONDS, build_link

app = typer.Typer(no_args_is_help=True, help="The member cash web: signed links.")


def member_link(rt: Runtime, service_id: UUID, external_id: str, base_url: str) -> str:
    """A link that signs ``external_id`` of the service into the cash web, valid 5 minutes.

    Refuses (``service_not_found``, ``member_not_found``) rather than print a dead link.
    """

    def secret(conn: Connection) -> str:
        tenancy.get_member(conn, service_id, external_id)
        return tenancy.link_secret(conn, service_id)

    key = rt.db.read(secret)
    return build_link(base_url, key, service_id, external_id, int(rt.clock.now().timestamp()))


def default_base_url(rt: Runtime) -> str:
    return f"http://{rt.settings.host}:{rt.settings.port}"


@app.command()
def link(
    service: UUID = typer.Option(..., help="Service id."),
    member: str = typer.Option(..., help="The member's external id."),
    base_url: str | None = typer.Option(
        None, help="Where Coffer is reached (default http://COFFER_HOST:COFFER_PORT)."
    ),
) -> None:
    """Print a signed link to the member's cash page (valid for 5 minutes)."""
    rt = runtime()
    url = guarded(lambda: member_link(rt, service, member, base_url or default_base_url(rt)))
    typer.echo(url)
    typer.echo(f"valid for {LINK_TTL_SECONDS // 60} minutes", err=True)


@app.command()
def secret(
    service: UUID = typer.Option(..., help="Service id."),
    rotate: bool = typer.Option(
        False, help="Replace the secret first: links signed with the old one stop working."
    ),
) -> None:
    """Print the secret a service signs its cash-web links with (keep it on the server)."""
    rt = runtime()

    def work() -> str:
        if rotate:
            return rt.db.write(lambda conn: tenancy.rotate_link_secret(conn, service))
        return rt.db.read(lambda conn: tenancy.link_secret(conn, service))

    emit_json({"service_id": str(service), "link_secret": guarded(work), "rotated": rotate})
