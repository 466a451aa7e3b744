"""Demo admin accounts for ``coffer up`` / ``make run``: one per kind of role.

DEMO ONLY: the passwords below are public (they are in this file and printed at start-up).
Never run ``ensure_demo_admins`` against a database that real people use.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from coffer.admins import service as admins
from coffer.app import Runtime
from coffer.cli.admins import create_with_audit

#: (email, role, password) of the demo accounts; public, demo only.
DEMO_ADMINS: tuple[tuple[str, str, str], ...] = (
    ("superuser@coffer.example", "superuser", "demo-superuser"),
    ("operator@coffer.example", "operator", "demo-operator"),
    ("cs@coffer.example", "cs", "demo-cs-agent"),
    ("marketer@coffer.example", "marketer", "demo-marketer"),
    ("viewer@coffer.example", "viewer", "demo-viewer-1"),
)


def ensure_demo_admins(runtime: Runtime) -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet; return all of them (email, role, password).

    Existing accounts are left alone (their password may have been changed since).
    """
    runtime.db.write(lambda conn: _ensure(conn, runtime))
    return list(DEMO_ADMINS)


def _ensure(conn: Connection, runtime: Runtime) -> None:
    for email, role, password in DEMO_ADMINS:
        if admins.find_admin_by_email(conn, email) is None:
            create_with_audit(
                conn,
                email=email,
                role=role,
                password=password,
                actor="system:demo",
                reason="demo account (coffer up)",
                now=runtime.clock.now(),
            )
