"""``coffer admin create|list|disable|enable``: accounts of the admin web.

Each change writes its audit row (actor ``cli:<os user>``) in the same transaction.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

import typer
from sqlalchemy.engine import Connection

from coffer.admins import service as admins
from coffer.admins.model import AdminUser, validate_password
from coffer.admins.permissions import ROLES
from coffer.audit import service as audit
from coffer.cli.context import emit_json, guarded, runtime
from coffer.kernel.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Admin accounts of the admin web.")


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def create_with_audit(
    conn: Connection,
    *,
    email: str,
    role: str,
    password: str,
    actor: str,
    reason: str,
    now: datetime,
) -> AdminUser:
    """Create an admin and its ``admin.create`` audit row (the CLI and the demo accounts)."""
    admin = admins.create_admin(conn, email=email, role=role, password=password, now=now)
    audit.record(
        conn,
        actor=actor,
        action="admin.create",
        target_type="admin",
        target_id=str(admin.id),
        service_id=None,
        before=None,
        after={"email": admin.email, "role": admin.role, "status": admin.status},
        reason=reason,
        address="",
        now=now,
    )
    return admin


def _set_status(conn: Connection, email: str, status: str, actor: str, now: datetime) -> AdminUser:
    before = admins.find_admin_by_email(conn, email)
    after = admins.set_status(conn, email, status, now=now)
    audit.record(
        conn,
        actor=actor,
        action="admin.enable" if status == "active" else "admin.disable",
        target_type="admin",
        target_id=str(after.id),
        service_id=None,
        before={"status": before.status if before else None},
        after={"status": after.status},
        reason="",
        address="",
        now=now,
    )
    return after


def _summary(admin: AdminUser) -> dict[str, Any]:
    return {
        "admin_id": str(admin.id),
        "email": admin.email,
        "role": admin.role,
        "status": admin.status,
        "locked_until": admin.locked_until,
        "created_at": admin.created_at,
        "last_login_at": admin.last_login_at,
    }


def _prompt_password() -> str:
    first = str(typer.prompt("Password", hide_input=True))
    second = str(typer.prompt("Repeat the password", hide_input=True))
    if first != second:
        raise InvalidInput("password_mismatch", "The two passwords differ.")
    return first


@app.command()
def create(
    email: str = typer.Option(..., help="Email the admin signs in with."),
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}."),
    password: str | None = typer.Option(
        None, help="At least 10 characters; asked for (twice, hidden) when not given."
    ),
) -> None:
    """Create an admin account; prints its id, email and role as JSON."""
    rt = runtime()
    chosen = guarded(lambda: validate_password(password or _prompt_password()))
    actor = cli_actor()
    admin = guarded(
        lambda: rt.db.write(
            lambda conn: create_with_audit(
                conn,
                email=email,
                role=role,
                password=chosen,
                actor=actor,
                reason="coffer admin create",
                now=rt.clock.now(),
            )
        )
    )
    emit_json({"admin_id": str(admin.id), "email": admin.email, "role": admin.role})


@app.command("list")
def list_admins() -> None:
    """List admin accounts (never their passwords)."""
    rt = runtime()
    emit_json([_summary(admin) for admin in rt.db.read(admins.list_admins)])


@app.command()
def disable(email: str = typer.Option(..., help="Email of the admin.")) -> None:
    """Disable an admin: signing in is refused and open sessions end now."""
    rt = runtime()
    actor = cli_actor()
    admin = guarded(
        lambda: rt.db.write(
            lambda conn: _set_status(conn, email, "disabled", actor, rt.clock.now())
        )
    )
    emit_json(_summary(admin))


@app.command()
def enable(email: str = typer.Option(..., help="Email of the admin.")) -> None:
    """Enable a disabled admin again."""
    rt = runtime()
    actor = cli_actor()
    admin = guarded(
        lambda: rt.db.write(lambda conn: _set_status(conn, email, "active", actor, rt.clock.now()))
    )
    emit_json(_summary(admin))
