"""A process SIGKILLed between a purchase's cash debit and its grant leaves nothing half done.

The victim (this module run as a script) buys with ``COFFER_CRASH_AT=purchase.after_debit``:
it kills itself after the spend journal is written and before the entitlement is granted, with
its transaction open. Afterwards the database holds no trace of the purchase — no spend, no
purchase row, no entitlement, no webhook — the member's cash is intact, every invariant holds,
and the same purchase then goes through in a process that is not killed.

Usage as the victim: python -m tests.fault.test_killed_purchase URL SERVICE MEMBER PRODUCT
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.kernel.crash import ENV
from coffer.ledger.tables import journals
from coffer.purchases.buying import CRASH_AFTER_DEBIT
from coffer.purchases.tables import purchase_lines, purchase_revenue, purchases
from tests.integration.test_purchases import Shop
from tests.ledger_helpers import assert_invariants

ROOT = Path(__file__).resolve().parents[2]


def _victim(url: str, service_id: str, member_id: str, product_id: str, crash: bool) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash:
        env[ENV] = CRASH_AFTER_DEBIT
    process = subprocess.run(
        [sys.executable, "-m", "tests.fault.test_killed_purchase", url, service_id, member_id,
         product_id],
        cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip
    return process.returncode


def _counts(db: Database) -> list[int]:
    tables = (purchases, purchase_lines, purchase_revenue, entitlements, journals, jobs)
    return db.read(
        lambda c: [int(c.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables]
    )


def test_sigkill_between_debit_and_grant(
    db: Database, clock: ManualClock, database_url: str
) -> None:
    shop = Shop(db, clock)
    sword = shop.product("SWORD", price=400)
    alice = shop.member("alice", paid=1_000)
    ids = (str(shop.service.id), str(alice.member.id), str(sword.id))
    before = _counts(db)

    assert _victim(database_url, *ids, crash=True) == -signal.SIGKILL
    assert _counts(db) == before
    assert shop.balance(alice) == 1_000
    assert_invariants(db)

    assert _victim(database_url, *ids, crash=False) == 0
    assert shop.balance(alice) == 600
    [entitlement] = shop.owned(alice)
    assert (entitlement.product_id, entitlement.granted) == (sword.id, 1)
    assert_invariants(db)


def main() -> None:
    from coffer import app
    from coffer.db.engine import make_engine
    from coffer.kernel.clock import SystemClock
    from coffer.purchases import buying
    from coffer.tenancy import service as tenancy

    url, service_id, member_id, product_id = sys.argv[1:5]
    db = Database(make_engine(url))

    def buy(conn: Connection) -> None:
        service = tenancy.get_service(conn, UUID(service_id))
        buyer = app.member_wallet_by_id(conn, service, UUID(member_id), spending=True)
        buying.purchase(
            conn, service, buyer, [(UUID(product_id), 1)], gift_to=None, actor="victim",
            now=SystemClock().now(),
        )  # fmt: skip

    db.write(buy)
    db.dispose()


if __name__ == "__main__":
    main()
