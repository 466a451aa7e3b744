"""Connecting the browser tests' live server to a live sandbox PG (this module holds no tests).

Use with the ``sandbox_url`` fixture of :mod:`tests.payments.world` (import it into the test
module): :func:`connect_sandbox` gives Demo Game a sandbox merchant of its own, routes every
payment method to it, points the merchant's webhooks at the live server, and gives the live
server's runtime a gateway directory that can open the contract's secrets (on PostgreSQL there
is no key file to fall back on).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy.engine import Connection

from coffer.payments.directory import GatewayDirectory
from coffer.payments.onboarding import connect_pg
from coffer.payments.secrets import SecretBox, new_key
from tests.browser.conftest import LiveServer
from tests.payments.world import ADMIN


@contextmanager
def connect_sandbox(live_server: LiveServer, sandbox_url: str) -> Iterator[UUID]:
    """Demo Game charges through the sandbox PG while the block runs; yields the contract id."""
    rt = live_server.runtime
    box = SecretBox(new_key())
    merchant: dict[str, Any] = httpx.post(
        f"{sandbox_url}/admin/merchants", json={"name": "browser tests"}, headers=ADMIN
    ).json()

    def connect(conn: Connection) -> UUID:
        contract = connect_pg(
            conn, live_server.world.service_id, pg="sandbox", name="Sandbox",
            base_url=sandbox_url, merchant_id=merchant["merchant_id"],
            client_key=merchant["client_key"], secret_key=merchant["secret_key"],
            webhook_secret=merchant["webhook_secret"], box=box, now=rt.clock.now(),
        )  # fmt: skip
        return contract.id

    contract_id = rt.db.write(connect)
    hook = httpx.put(
        f"{sandbox_url}/admin/merchants/{merchant['merchant_id']}/webhook",
        json={"webhook_url": f"{live_server.base_url}/pg/webhooks/{contract_id}"},
        headers=ADMIN,
    )
    assert hook.status_code == 200, hook.text
    directory = GatewayDirectory(rt.db, box, timeout=10)
    rt.gateways = directory
    try:
        yield contract_id
    finally:
        rt.gateways = None
        directory.close()
