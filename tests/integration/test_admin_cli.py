"""``coffer admin create|list|disable`` as a real process, and the demo accounts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from coffer.admins import service as admins
from coffer.app import Runtime
from coffer.audit import service as audit
from coffer.cli import app as cli
from coffer.cli.demo_admins import DEMO_ADMINS, ensure_demo_admins
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock

COFFER = str(Path(sys.executable).parent / "coffer")


def _coffer(
    database_url: str, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COFFER_DATABASE_URL": database_url,
        "COFFER_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [COFFER, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_create_list_and_disable(db: Database, database_url: str, tmp_path: Path) -> None:
    created = _coffer(
        database_url,
        tmp_path,
        "admin", "create", "--email", "Ops@Example.com", "--role", "operator",
        "--password", "a long password",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    shown = json.loads(created.stdout)
    assert shown["email"] == "ops@example.com"
    assert shown["role"] == "operator"
    admin = db.read(lambda conn: admins.find_admin_by_email(conn, "ops@example.com"))
    assert admin is not None
    assert str(admin.id) == shown["admin_id"]

    prompted = _coffer(
        database_url,
        tmp_path,
        "admin", "create", "--email", "cs@example.com", "--role", "cs",
        stdin="another password\nanother password\n",
    )  # fmt: skip
    assert prompted.returncode == 0, prompted.stderr
    assert "another password" not in prompted.stdout

    listed = json.loads(_coffer(database_url, tmp_path, "admin", "list").stdout)
    assert [a["email"] for a in listed] == ["cs@example.com", "ops@example.com"]
    assert all("password" not in key for a in listed for key in a)

    disabled = _coffer(database_url, tmp_path, "admin", "disable", "--email", "cs@example.com")
    assert disabled.returncode == 0
    assert json.loads(disabled.stdout)["status"] == "disabled"
    actions = [e.action for e in db.read(lambda conn: audit.browse(conn)).entries]
    assert actions == ["admin.disable", "admin.create", "admin.create"]


def test_bad_input_exits_2_and_creates_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # In process (the real process is tested above): eight start-ups would take ~20 s.
    runner = CliRunner()
    env = {"COFFER_DATABASE_URL": database_url, "COFFER_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=stdin, env=env)

    for args, stdin in (
        (["--email", "x@example.com", "--role", "wizard", "--password", "long enough!"], None),
        (["--email", "not-an-email", "--role", "cs", "--password", "long enough!"], None),
        (["--email", "x@example.com", "--role", "cs", "--password", "short"], None),
        (["--email", "x@example.com", "--role", "cs"], "first password\nsecond password\n"),
    ):
        result = run("admin", "create", *args, stdin=stdin)
        assert result.exit_code == 2, (args, result.output)
        assert "error: " in result.output
    twice = ["admin", "create", "--email", "y@example.com", "--role", "cs", "--password", "x" * 12]
    assert run(*twice).exit_code == 0
    again = run(*twice)
    assert again.exit_code == 2
    assert "admin_exists" in again.output
    assert [a.email for a in db.read(admins.list_admins)] == ["y@example.com"]
    assert run("admin", "disable", "--email", "nobody@example.com").exit_code == 2


def test_demo_admins_are_created_once(db: Database, clock: ManualClock) -> None:
    runtime = Runtime(Settings.from_env({}), db, clock)
    first = ensure_demo_admins(runtime)
    assert first == list(DEMO_ADMINS)
    assert {role for _, role, _ in first} >= {"superuser", "operator", "cs", "viewer"}
    assert all(len(password) >= 10 for _, _, password in first)
    assert ensure_demo_admins(runtime) == first
    assert len(db.read(admins.list_admins)) == len(DEMO_ADMINS)
    for email, _, password in first:
        outcome = db.write(
            lambda conn, e=email, p=password: admins.attempt_login(
                conn, email=e, password=p, now=clock.now()
            )
        )
        assert outcome.result == "ok"
