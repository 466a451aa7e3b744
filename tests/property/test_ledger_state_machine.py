"""A Hypothesis state machine: random grants, spends, reversals, holds, expiry and time.

The model below is an independent, deliberately naive re-statement of the rules (lists of
lots, linear scans); after every step the database must agree with it on every balance and
pass every invariant. Each example runs on a fresh member of one migrated database.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InsufficientFunds
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.invariants import check_all
from tests.ledger_helpers import Account, new_member, new_service

_members = itertools.count()


@dataclass
class ModelLot:
    kind: str
    remaining: int
    expires_at: datetime | None
    seq: int


@dataclass
class ModelHold:
    amount: int
    expires_at: datetime
    draws: list[tuple[ModelLot, int]]
    status: str = "active"


@dataclass
class Model:
    lots: list[ModelLot] = field(default_factory=list)
    holds: dict[object, ModelHold] = field(default_factory=dict)
    spends: dict[object, list[tuple[ModelLot, int]]] = field(default_factory=dict)

    def live(self, now: datetime) -> list[ModelLot]:
        return [
            lot
            for lot in self.lots
            if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)
        ]

    def take(self, amount: int, now: datetime) -> list[tuple[ModelLot, int]] | None:
        order = sorted(
            self.live(now),
            key=lambda lot: (
                lot.kind != "bonus",
                lot.expires_at is None,
                lot.expires_at or datetime.max.replace(tzinfo=now.tzinfo),
                lot.seq,
            ),
        )
        if sum(lot.remaining for lot in order) < amount:
            return None
        draws = []
        for lot in order:
            part = min(amount, lot.remaining)
            if part:
                lot.remaining -= part
                draws.append((lot, part))
                amount -= part
        return draws

    def balance(self, now: datetime) -> tuple[int, int, int]:
        live = self.live(now)
        return (
            sum(lot.remaining for lot in live if lot.kind == "paid"),
            sum(lot.remaining for lot in live if lot.kind == "bonus"),
            sum(h.amount for h in self.holds.values() if h.status == "active"),
        )


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, db: Database, clock: ManualClock) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.model = Model()
        self.seq = itertools.count()
        self.runtime = Runtime(Settings.from_env({}), db, clock)

    @initialize()
    def open_wallet(self) -> None:
        service = new_service(self.db, self.clock)
        self.who: Account = new_member(self.db, self.clock, service, f"m{next(_members)}")

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @rule(
        amount=st.integers(1, 5_000),
        kind=st.sampled_from(["paid", "bonus"]),
        expires_in_hours=st.none() | st.integers(1, 72),
    )
    def grant(self, amount: int, kind: str, expires_in_hours: int | None) -> None:
        expires = self.now + timedelta(hours=expires_in_hours) if expires_in_hours else None
        self.db.write(
            lambda c: ledger.grant(
                c,
                self.who.wallet,
                amount=amount,
                kind=kind,
                source="event",
                actor="prop",
                now=self.now,
                expires_at=expires,
            )
        )
        self.model.lots.append(ModelLot(kind, amount, expires, next(self.seq)))

    @rule(amount=st.integers(1, 8_000))
    def spend(self, amount: int) -> None:
        draws = self.model.take(amount, self.now)
        try:
            result = self.db.write(
                lambda c: ledger.spend(
                    c, self.who.wallet, amount=amount, reference="r", actor="prop", now=self.now
                )
            )
        except InsufficientFunds:
            assert draws is None
            return
        assert draws is not None, "database spent what the model says is not there"
        self.model.spends[result.journal_id] = draws

    @precondition(lambda self: bool(self.model.spends))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        journal_id = data.draw(st.sampled_from(sorted(self.model.spends, key=str)))
        draws = self.model.spends.pop(journal_id)
        self.db.write(
            lambda c: ledger.reverse_spend(
                c, self.who.wallet, journal_id, actor="prop", now=self.now
            )  # type: ignore[arg-type]
        )
        for lot, part in draws:
            lot.remaining += part

    @rule(amount=st.integers(1, 4_000), seconds=st.integers(1, 7_200))
    def reserve(self, amount: int, seconds: int) -> None:
        draws = self.model.take(amount, self.now)
        try:
            result = self.db.write(
                lambda c: ledger.reserve(
                    c,
                    self.who.wallet,
                    amount=amount,
                    expires_in_seconds=seconds,
                    reference="h",
                    actor="prop",
                    now=self.now,
                )
            )
        except InsufficientFunds:
            assert draws is None
            return
        assert draws is not None
        self.model.holds[result.hold.id] = ModelHold(
            amount, self.now + timedelta(seconds=seconds), draws
        )

    def _active_holds(self) -> list[object]:
        return sorted((k for k, h in self.model.holds.items() if h.status == "active"), key=str)

    @precondition(lambda self: bool(self._active_holds()))
    @rule(data=st.data(), fraction=st.sampled_from([0, 1, 2, 3, 4]))
    def close_hold(self, data: st.DataObject, fraction: int) -> None:
        hold_id = data.draw(st.sampled_from(self._active_holds()))
        hold = self.model.holds[hold_id]
        commit = hold.amount * fraction // 4
        try:
            self.db.write(
                lambda c: ledger.commit_hold(
                    c,
                    self.who.wallet,
                    hold_id,
                    amount=commit,
                    actor="prop",
                    now=self.now,  # type: ignore[arg-type]
                )
            )
        except Conflict as error:
            assert (error.code, hold.expires_at <= self.now) == ("hold_expired", True)
            return
        assert hold.expires_at > self.now
        hold.status = "committed"
        left = commit
        for lot, part in hold.draws:
            kept = min(left, part)
            lot.remaining += part - kept
            left -= kept

    @rule(hours=st.integers(1, 48))
    def advance_time(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule()
    def run_expiry_jobs(self) -> None:
        app.expire_lots(self.runtime)
        app.expire_holds(self.runtime)
        for hold in self.model.holds.values():
            if hold.status == "active" and hold.expires_at <= self.now:
                hold.status = "expired"
                for lot, part in hold.draws:
                    lot.remaining += part

    @invariant()
    def agrees_with_model(self) -> None:
        if not hasattr(self, "who"):
            return
        got = self.db.read(lambda c: queries.balance(c, self.who.member.id, self.now))
        assert (got.paid, got.bonus, got.held) == self.model.balance(self.now)
        assert self.db.read(check_all) == []


def test_ledger_agrees_with_model(db: Database, clock: ManualClock) -> None:
    run_state_machine_as_test(
        lambda: LedgerMachine(db, clock),
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
