"""16 threads doing 500 random operations each on 8 wallets (the foundation issue's test).

Afterwards no wallet is below zero, every invariant holds, and the cash in all wallets equals
what was granted minus what was spent (spends, committed holds) plus what was reversed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from sqlalchemy import func, select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InsufficientFunds
from coffer.ledger import service as ledger
from coffer.ledger.tables import wallets
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service

THREADS = 16
OPERATIONS = 500
WALLETS = 8


@dataclass
class Tally:
    granted: int = 0
    spent: int = 0
    reversed: int = 0
    refused: int = 0


def worker(
    db: Database,
    clock: ManualClock,
    accounts: list[Account],
    seed: int,
    tally: Tally,
    errors: list[BaseException],
) -> None:
    rng = random.Random(seed)
    my_spends: list[tuple[Account, object, int]] = []
    try:
        for _ in range(OPERATIONS):
            who = rng.choice(accounts)
            op = rng.random()
            now = clock.now()
            try:
                if op < 0.35:
                    amount = rng.randint(1, 1_000)
                    kind = rng.choice(["paid", "bonus"])
                    db.write(
                        lambda c: ledger.grant(
                            c,
                            who.wallet,
                            amount=amount,
                            kind=kind,
                            source="api",
                            actor="t",
                            now=now,
                        )
                    )
                    tally.granted += amount
                elif op < 0.7:
                    amount = rng.randint(1, 800)
                    result = db.write(
                        lambda c: ledger.spend(
                            c, who.wallet, amount=amount, reference="x", actor="t", now=now
                        )
                    )
                    tally.spent += amount
                    my_spends.append((who, result.journal_id, amount))
                elif op < 0.8 and my_spends:
                    owner, journal_id, amount = my_spends.pop(rng.randrange(len(my_spends)))
                    db.write(
                        lambda c: ledger.reverse_spend(
                            c, owner.wallet, journal_id, actor="t", now=now
                        )
                    )  # type: ignore[arg-type]
                    tally.reversed += amount
                else:
                    amount = rng.randint(1, 600)
                    hold = db.write(
                        lambda c: ledger.reserve(
                            c,
                            who.wallet,
                            amount=amount,
                            expires_in_seconds=600,
                            reference="h",
                            actor="t",
                            now=now,
                        )
                    ).hold
                    commit = rng.choice([0, amount // 2, amount])
                    db.write(
                        lambda c: ledger.commit_hold(
                            c, who.wallet, hold.id, amount=commit, actor="t", now=now
                        )
                    )
                    tally.spent += commit
            except InsufficientFunds:
                tally.refused += 1
    except (Conflict, Exception) as error:  # pragma: no cover - reported below
        errors.append(error)


def test_concurrent_operations_keep_every_invariant(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    accounts = [new_member(db, clock, service, f"w{i}") for i in range(WALLETS)]
    tallies = [Tally() for _ in range(THREADS)]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=worker, args=(db, clock, accounts, seed, tallies[seed], errors))
        for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = db.read(
        lambda c: c.execute(
            select(func.sum(wallets.c.paid + wallets.c.bonus + wallets.c.held))
        ).scalar_one()
    )
    negative = db.read(
        lambda c: c.execute(
            select(func.count()).where(
                (wallets.c.paid < 0) | (wallets.c.bonus < 0) | (wallets.c.held < 0)
            )
        ).scalar_one()
    )
    assert negative == 0
    expected = sum(t.granted - t.spent + t.reversed for t in tallies)
    assert total == expected
    assert sum(t.spent for t in tallies) > 0
    assert sum(t.refused for t in tallies) > 0
    assert_invariants(db)
