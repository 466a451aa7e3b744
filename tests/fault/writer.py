"""A victim process for the kill tests: grants and spends in a loop, reporting each commit.

Usage: python -m tests.fault.writer DATABASE_URL SERVICE_ID MEMBER_ID
Prints ``<kind> <amount>`` after each transaction commits, flushed, until it is killed.
"""

from __future__ import annotations

import random
import sys
from uuid import UUID

from coffer.db.engine import make_engine
from coffer.db.transaction import Database
from coffer.kernel.clock import SystemClock
from coffer.kernel.errors import InsufficientFunds
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef


def main() -> None:
    url, service_id, member_id = sys.argv[1:4]
    db = Database(make_engine(url))
    wallet = WalletRef(UUID(service_id), UUID(member_id), "KRW", "Asia/Seoul")
    clock = SystemClock()
    rng = random.Random(7)
    while True:
        amount = rng.randint(1, 500)
        if rng.random() < 0.5:
            db.write(
                lambda c: ledger.grant(
                    c, wallet, amount=amount, kind=rng.choice(["paid", "bonus"]),
                    source="api", actor="victim", now=clock.now(),
                )
            )  # fmt: skip
            print(f"grant {amount}", flush=True)
        else:
            try:
                db.write(
                    lambda c: ledger.spend(
                        c, wallet, amount=amount, reference="victim", actor="victim",
                        now=clock.now(),
                    )
                )  # fmt: skip
            except InsufficientFunds:
                continue
            print(f"spend {amount}", flush=True)


if __name__ == "__main__":
    main()
