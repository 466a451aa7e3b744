"""Every ledger operation on both databases, with the invariants checked after each test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.accounts import account_balances
from coffer.ledger.invariants import check_all
from coffer.ledger.tables import lots, wallets
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service


@pytest.fixture
def alice(db: Database, clock: ManualClock) -> Iterator[Account]:
    account = new_member(db, clock, new_service(db, clock), "alice")
    yield account
    assert_invariants(db)


def grant(
    db: Database, clock: ManualClock, who: Account, amount: int, kind: str = "paid", **kw: object
) -> ledger.GrantResult:
    return db.write(
        lambda c: ledger.grant(
            c,
            who.wallet,
            amount=amount,
            kind=kind,
            source=kw.pop("source", "api"),  # type: ignore[arg-type]
            actor="test",
            now=clock.now(),
            **kw,  # type: ignore[arg-type]
        )
    )


def spend(db: Database, clock: ManualClock, who: Account, amount: int) -> ledger.SpendResult:
    return db.write(
        lambda c: ledger.spend(
            c, who.wallet, amount=amount, reference="item-1", actor="test", now=clock.now()
        )
    )


def balance(db: Database, clock: ManualClock, who: Account) -> tuple[int, int, int]:
    b = db.read(lambda c: queries.balance(c, who.member.id, clock.now()))
    return b.paid, b.bonus, b.held


def test_grant_creates_a_lot_and_a_balanced_journal(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    result = grant(db, clock, alice, 1_000)
    assert balance(db, clock, alice) == (1_000, 0, 0)
    [lot] = db.read(lambda c: queries.member_lots(c, alice.member.id))
    assert (lot.id, lot.amount, lot.remaining, lot.refundable) == (
        result.lot_id,
        1_000,
        1_000,
        False,
    )
    detail = db.read(lambda c: queries.journal_detail(c, alice.service.id, result.journal_id))
    assert sorted((p["code"], p["amount"]) for p in detail["postings"]) == [
        ("cash:paid", 1_000),
        ("grants:api", -1_000),
    ]


def test_admin_grant_needs_a_reason(db: Database, clock: ManualClock, alice: Account) -> None:
    with pytest.raises(InvalidInput) as raised:
        grant(db, clock, alice, 100, source="admin")
    assert raised.value.code == "missing_reason"
    grant(db, clock, alice, 100, source="admin", reason="compensation for outage")
    assert balance(db, clock, alice) == (100, 0, 0)


def test_spend_draws_bonus_first_and_refuses_overdraft(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 1_000)
    grant(db, clock, alice, 300, kind="bonus", expires_at=clock.now() + timedelta(days=7))
    result = spend(db, clock, alice, 500)
    assert [(d.kind, d.amount) for d in result.draws] == [("bonus", 300), ("paid", 200)]
    assert balance(db, clock, alice) == (800, 0, 0)
    with pytest.raises(InsufficientFunds) as raised:
        spend(db, clock, alice, 801)
    assert raised.value.details == {"requested": 801, "available": 800}
    assert balance(db, clock, alice) == (800, 0, 0)


def test_reverse_restores_the_exact_lots_once(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    first = grant(db, clock, alice, 100, kind="bonus", expires_at=clock.now() + timedelta(days=30))
    second = grant(db, clock, alice, 100)
    spent = spend(db, clock, alice, 150)
    db.write(
        lambda c: ledger.reverse_spend(
            c, alice.wallet, spent.journal_id, actor="cs", now=clock.now()
        )
    )
    remaining = {
        lot.id: lot.remaining for lot in db.read(lambda c: queries.member_lots(c, alice.member.id))
    }
    assert remaining == {first.lot_id: 100, second.lot_id: 100}
    with pytest.raises(Conflict) as raised:
        db.write(
            lambda c: ledger.reverse_spend(
                c, alice.wallet, spent.journal_id, actor="cs", now=clock.now()
            )
        )
    assert raised.value.code == "already_reversed"


def test_reversal_onto_an_expired_lot_expires_that_part_at_once(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 100, kind="bonus", expires_at=clock.now() + timedelta(days=1))
    grant(db, clock, alice, 100)
    spent = spend(db, clock, alice, 150)
    clock.advance(timedelta(days=2))
    db.write(
        lambda c: ledger.reverse_spend(
            c, alice.wallet, spent.journal_id, actor="cs", now=clock.now()
        )
    )
    assert balance(db, clock, alice) == (100, 0, 0)
    kinds = [e.kind for e in db.read(lambda c: queries.history(c, alice.member.id)).entries]
    assert kinds[:2] == ["expiry", "spend_reversal"]
    breakage = db.read(lambda c: account_balances(c, alice.service.id))["breakage"]
    assert breakage == 100


def test_only_spends_of_this_service_can_be_reversed(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    granted = grant(db, clock, alice, 100)
    with pytest.raises(Conflict) as raised:
        db.write(
            lambda c: ledger.reverse_spend(
                c, alice.wallet, granted.journal_id, actor="cs", now=clock.now()
            )
        )
    assert raised.value.code == "not_reversible"
    other = new_member(db, clock, new_service(db, clock, name="Other"), "alice")
    spent = spend(db, clock, alice, 10)
    with pytest.raises(NotFound):
        db.write(
            lambda c: ledger.reverse_spend(
                c, other.wallet, spent.journal_id, actor="cs", now=clock.now()
            )
        )


def test_hold_reserves_then_commits_part_and_returns_the_rest(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 1_000)
    hold = db.write(
        lambda c: ledger.reserve(
            c,
            alice.wallet,
            amount=600,
            expires_in_seconds=60,
            reference="match-9",
            actor="game",
            now=clock.now(),
        )
    ).hold
    assert balance(db, clock, alice) == (400, 0, 600)
    with pytest.raises(InsufficientFunds):
        spend(db, clock, alice, 401)
    committed = db.write(
        lambda c: ledger.commit_hold(
            c, alice.wallet, hold.id, amount=250, actor="game", now=clock.now()
        )
    ).hold
    assert (committed.status, committed.committed) == ("committed", 250)
    assert balance(db, clock, alice) == (750, 0, 0)
    with pytest.raises(Conflict) as raised:
        db.write(
            lambda c: ledger.release_hold(c, alice.wallet, hold.id, actor="game", now=clock.now())
        )
    assert raised.value.code == "hold_committed"


def test_commit_more_than_held_is_refused(db: Database, clock: ManualClock, alice: Account) -> None:
    grant(db, clock, alice, 100)
    hold = db.write(
        lambda c: ledger.reserve(
            c,
            alice.wallet,
            amount=50,
            expires_in_seconds=60,
            reference=None,
            actor="t",
            now=clock.now(),
        )
    ).hold
    with pytest.raises(InvalidInput) as raised:
        db.write(
            lambda c: ledger.commit_hold(
                c, alice.wallet, hold.id, amount=51, actor="t", now=clock.now()
            )
        )
    assert raised.value.code == "amount_exceeds_hold"
    released = db.write(
        lambda c: ledger.release_hold(c, alice.wallet, hold.id, actor="t", now=clock.now())
    ).hold
    assert released.status == "released"
    assert balance(db, clock, alice) == (100, 0, 0)


def test_hold_expiry_job_releases_and_queues_an_event(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 100)
    hold = db.write(
        lambda c: ledger.reserve(
            c,
            alice.wallet,
            amount=80,
            expires_in_seconds=30,
            reference="h",
            actor="t",
            now=clock.now(),
        )
    ).hold
    runtime = Runtime(Settings.from_env({}), db, clock)
    assert app.expire_holds(runtime) == 0
    clock.advance(timedelta(seconds=31))
    with pytest.raises(Conflict) as raised:
        db.write(lambda c: ledger.commit_hold(c, alice.wallet, hold.id, actor="t", now=clock.now()))
    assert raised.value.code == "hold_expired"
    assert app.expire_holds(runtime) == 1
    assert app.expire_holds(runtime) == 0
    assert balance(db, clock, alice) == (100, 0, 0)
    types = db.read(lambda c: [r.payload["type"] for r in c.execute(select(jobs.c.payload))])
    assert "hold.expired" in types


def test_lot_expiry_job_sweeps_to_breakage(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 300, kind="bonus", expires_at=clock.now() + timedelta(days=3))
    grant(db, clock, alice, 100)
    assert db.read(lambda c: queries.balance(c, alice.member.id, clock.now())).expiring_soon == 300
    clock.advance(timedelta(days=3))
    # Exact before the sweep: expired cash is not shown as available.
    assert balance(db, clock, alice) == (100, 0, 0)
    runtime = Runtime(Settings.from_env({}), db, clock)
    assert app.expire_lots(runtime) == 1
    assert app.expire_lots(runtime) == 0
    wallet = db.read(
        lambda c: c.execute(select(wallets).where(wallets.c.member_id == alice.member.id)).one()
    )
    assert (wallet.paid, wallet.bonus) == (100, 0)
    assert db.read(lambda c: account_balances(c, alice.service.id))["breakage"] == 300


def test_grant_validation(db: Database, clock: ManualClock, alice: Account) -> None:
    cases = [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": 1.5}, "invalid_amount"),
        ({"amount": 10, "kind": "gold"}, "invalid_cash_kind"),
        ({"amount": 10, "source": "magic"}, "invalid_source"),
        ({"amount": 10, "expires_at": clock.now()}, "invalid_expiry"),
    ]
    for args, code in cases:
        with pytest.raises(InvalidInput) as raised:
            grant(db, clock, alice, **args)  # type: ignore[arg-type]
        assert raised.value.code == code
    assert balance(db, clock, alice) == (0, 0, 0)


def test_history_pages_and_filters(db: Database, clock: ManualClock, alice: Account) -> None:
    for _ in range(5):
        grant(db, clock, alice, 10)
    spend(db, clock, alice, 5)
    page = db.read(lambda c: queries.history(c, alice.member.id, limit=4))
    assert [e.kind for e in page.entries] == ["spend", "grant", "grant", "grant"]
    assert page.entries[0].paid_change == -5
    rest = db.read(lambda c: queries.history(c, alice.member.id, limit=4, before=page.next_cursor))
    assert len(rest.entries) == 2
    assert rest.next_cursor is None
    grants = db.read(lambda c: queries.history(c, alice.member.id, kinds=["grant"]))
    assert len(grants.entries) == 5
    with pytest.raises(InvalidInput):
        db.read(lambda c: queries.history(c, alice.member.id, kinds=["bogus"]))


def test_invariants_name_a_tampered_row(db: Database, clock: ManualClock) -> None:
    account = new_member(db, clock, new_service(db, clock), "mallory")
    grant(db, clock, account, 100)
    db.write(lambda c: c.execute(update(lots).values(remaining=90)))
    rules = {v.rule for v in db.read(check_all)}
    assert rules == {"wallet_paid_matches_lots", "lot_remaining_matches_draws"}
    db.write(lambda c: c.execute(update(lots).values(remaining=100)))
    assert_invariants(db)


def test_text_the_database_cannot_store_is_refused_by_the_domain(
    db: Database, clock: ManualClock, alice: Account
) -> None:
    grant(db, clock, alice, 100)
    for bad in ["nul\x00", "surrogate\ud800"]:
        with pytest.raises(InvalidInput) as raised:
            db.write(
                lambda c: ledger.spend(
                    c, alice.wallet, amount=1, reference=bad, actor="t", now=clock.now()
                )
            )
        assert raised.value.code == "invalid_reference"
    assert balance(db, clock, alice) == (100, 0, 0)
