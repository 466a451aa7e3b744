"""A charge event's budget under concurrent approvals (both databases).

Twelve members' charges are approved at once against an event whose budget pays three bonuses:
exactly three bonuses are given, never more than the budget, and every charge is credited.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.payments.apply import apply_outcome
from coffer.payments.charges import Charge
from coffer.payments.gateways.outcomes import Approved
from coffer.pricing import bonuses
from coffer.pricing.tables import event_bonuses
from tests.integration.bonus_support import budget_spent, new_event, new_scene
from tests.integration.charge_support import RETURN_URL
from tests.ledger_helpers import assert_invariants

MEMBERS = 12
BONUS = 1_000


def _run(threads: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def guarded(slot: int) -> None:
        try:
            start.wait()
            work(slot)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    running = [threading.Thread(target=guarded, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert errors == [], errors


def test_a_budget_of_three_bonuses_holds_under_twelve_concurrent_approvals(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock, members=MEMBERS)
    event = new_event(scene, {"tiers": [{"min_amount": 0, "fixed": BONUS}]}, budget=3 * BONUS)
    # A second event without a budget stacks with it: every charge gets that one.
    free = new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 10}]}, name="Free")
    now = clock.now()

    def open_charge(external_id: str) -> Charge:
        return db.write(
            lambda conn: app.create_charge(
                conn, scene.service, external_id, amount=10_000, method="card", pg=None,
                return_url=RETURN_URL, now=now,
            )
        )  # fmt: skip

    opened = [open_charge(f"m{n}") for n in range(MEMBERS)]
    statuses: list[str] = [""] * MEMBERS

    def approve(slot: int) -> None:
        found = opened[slot]
        outcome = Approved(f"pay_{slot}", found.order_id, found.amount, "card", now)

        def work(conn: Connection) -> Charge:
            return apply_outcome(
                conn, found.id, outcome, source="webhook", now=now, resolve=app.resolve_wallet
            )

        statuses[slot] = db.write(work).status

    _run(MEMBERS, approve)
    assert statuses == ["approved"] * MEMBERS
    given = db.read(
        lambda c: c.execute(
            select(func.count(), func.sum(event_bonuses.c.amount)).where(
                event_bonuses.c.event_id == event.id
            )
        ).one()
    )
    assert (given[0], given[1]) == (3, 3 * BONUS)
    assert budget_spent(scene, event.id) == 3 * BONUS
    stats = db.read(lambda c: bonuses.event_stats(c, free.id))
    assert (stats.bonuses, stats.issued, stats.members) == (MEMBERS, 10 * MEMBERS, MEMBERS)
    assert_invariants(db)
