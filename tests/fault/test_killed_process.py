"""A process killed with SIGKILL in the middle of money operations loses and doubles nothing.

The victim reports each operation after its commit. After the kill the database must hold
exactly the reported operations, or those plus the one in flight if its commit landed before the
report; never a partial one, and every invariant must hold.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger.tables import journals
from tests.ledger_helpers import assert_invariants, new_member, new_service

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_stream_keeps_the_ledger_whole(
    db: Database, clock: ManualClock, database_url: str
) -> None:
    victim = new_member(db, clock, new_service(db, clock), "victim")
    rounds = 3
    reported: list[list[str]] = []
    for round_ in range(rounds):
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fault.writer", database_url,
             str(victim.service.id), str(victim.member.id)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.5 + 0.4 * round_)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        this_round = [line.split() for line in output.splitlines() if line]
        assert this_round, "the victim committed nothing before it was killed"
        reported += this_round

    committed = db.read(
        lambda c: c.execute(
            select(journals.c.kind, func.count(), func.sum(journals.c.amount))
            .where(
                journals.c.member_id == victim.member.id, journals.c.kind.in_(["grant", "spend"])
            )
            .group_by(journals.c.kind)
        ).all()
    )
    counts = {kind: (int(n), int(total)) for kind, n, total in committed}
    in_database = sum(n for n, _ in counts.values())
    # Nothing reported is lost; at most the one operation in flight per kill committed unseen.
    assert len(reported) <= in_database <= len(reported) + rounds
    granted = counts.get("grant", (0, 0))[1]
    spent = counts.get("spend", (0, 0))[1]
    balance = db.read(lambda c: queries.balance(c, victim.member.id, clock.now()))
    assert balance.paid + balance.bonus == granted - spent
    assert_invariants(db)
