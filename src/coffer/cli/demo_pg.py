"""The sandbox PG beside ``coffer up``: its own process, and the demo service connected to it.

``coffer up`` starts ``coffer sandbox-pg`` as a child process on ``COFFER_SANDBOX_PG_PORT``
(default 8100; an instance already answering there is reused), connects the demo service to
the sandbox's demo merchant (every payment method routed to it) and points the merchant's
webhooks at Coffer. The merchant's keys are the sandbox's public test keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any
from uuid import UUID

import httpx

from coffer.app import Runtime
from coffer.payments.contracts import list_contracts
from coffer.payments.onboarding import SANDBOX_DEMO_MERCHANT, connect_pg
from coffer.payments.secrets import SecretBox
from coffer.sandbox_pg.config import admin_token_from_env

STARTUP_SECONDS = 30


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start_sandbox_pg(rt: Runtime, host: str) -> tuple[subprocess.Popen[bytes] | None, str]:
    """The sandbox PG's URL, and its process when this call started it."""
    url = f"http://{host}:{rt.settings.sandbox_pg_port}"
    if _answers(url):
        return None, url
    command = [
        sys.executable, "-c", "from coffer.cli import main; main()", "sandbox-pg",
        "--host", host, "--port", str(rt.settings.sandbox_pg_port),
        "--data-dir", str(rt.settings.data_dir / "sandbox-pg"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - our own CLI
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the sandbox PG did not start on {url}")
        time.sleep(0.1)
    return process, url


def connect_demo_service(rt: Runtime, demo: dict[str, Any], sandbox_url: str, base: str) -> UUID:
    """Connect the demo service to the sandbox (once) and send its webhooks to Coffer."""
    service_id = UUID(demo["service_id"])
    box = SecretBox(rt.settings.resolve_secret_key())

    def ensure(conn: Any) -> UUID:
        existing = [c for c in list_contracts(conn, service_id) if c.pg == "sandbox"]
        if existing:
            return existing[0].id
        keys = SANDBOX_DEMO_MERCHANT
        contract = connect_pg(
            conn, service_id, pg="sandbox", name="Sandbox PG", base_url=sandbox_url,
            merchant_id=keys["merchant_id"], client_key=keys["client_key"],
            secret_key=keys["secret_key"], webhook_secret=keys["webhook_secret"],
            box=box, now=rt.clock.now(), commission_bp=250,
        )  # fmt: skip
        return contract.id

    contract_id = rt.db.write(ensure)
    merchant = SANDBOX_DEMO_MERCHANT["merchant_id"]
    httpx.put(
        f"{sandbox_url}/admin/merchants/{merchant}/webhook",
        content=json.dumps({"webhook_url": f"{base}/pg/webhooks/{contract_id}"}),
        headers={"X-Sandbox-Admin-Token": admin_token_from_env(),
                 "Content-Type": "application/json"},
        timeout=5,
    ).raise_for_status()  # fmt: skip
    return contract_id
