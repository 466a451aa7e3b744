"""``coffer cash link`` and ``coffer cash secret`` against the live server's database, and the
link-building sample of ``docs/cash-web.md``.

The command runs in-process (Typer's runner, the real ``coffer`` app): a subprocess would spend
seconds importing for each call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from click.testing import Result
from typer.testing import CliRunner

from coffer.cli import app
from tests.browser.conftest import LiveServer


def coffer(live_server: LiveServer, *args: str) -> Result:
    env = {
        "COFFER_DATABASE_URL": live_server.runtime.settings.database_url,
        "COFFER_DATA_DIR": str(live_server.runtime.settings.data_dir),
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_cash_link_prints_a_link_that_signs_the_member_in(live_server: LiveServer) -> None:
    service = str(live_server.world.service_id)
    made = coffer(
        live_server, "cash", "link", "--service", service, "--member", "alice",
        "--base-url", live_server.base_url,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    link = made.stdout.strip()
    assert link.startswith(f"{live_server.base_url}/cash/enter?service={service}&member=alice&")
    with httpx.Client(follow_redirects=False) as client:
        entered = client.get(link)
        assert (entered.status_code, entered.headers["location"]) == (303, "/cash")
        assert client.get(f"{live_server.base_url}/cash").status_code == 200

    unknown = coffer(live_server, "cash", "link", "--service", service, "--member", "nobody")
    assert unknown.exit_code == 2
    assert "member_not_found" in unknown.stderr


def test_rotating_the_secret_retires_old_links(live_server: LiveServer) -> None:
    world = live_server.world
    service = str(world.other_service_id)
    old_link = live_server.link("zoe", service=service, secret=world.other_link_secret)
    shown = coffer(live_server, "cash", "secret", "--service", service)
    assert json.loads(shown.stdout)["link_secret"] == world.other_link_secret
    rotated = coffer(live_server, "cash", "secret", "--service", service, "--rotate")
    assert rotated.exit_code == 0, rotated.output
    new_secret = json.loads(rotated.stdout)["link_secret"]
    assert new_secret != world.other_link_secret
    with httpx.Client(follow_redirects=False) as client:
        assert client.get(old_link).status_code == 403
        new_link = live_server.link("zoe", service=service, secret=new_secret)
        assert client.get(new_link).status_code == 303


def test_the_docs_code_sample_builds_a_working_link(live_server: LiveServer) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cash-web.md").read_text()
    sample = re.search(r"```python\n(.*?)```", docs, re.DOTALL)
    assert sample is not None
    namespace: dict[str, object] = {}
    exec(sample[1], namespace)
    cash_link = namespace["cash_link"]
    assert callable(cash_link)
    world = live_server.world
    link = cash_link(live_server.base_url, str(world.service_id), "alice", world.link_secret)
    with httpx.Client(follow_redirects=False) as client:
        assert client.get(link).status_code == 303
