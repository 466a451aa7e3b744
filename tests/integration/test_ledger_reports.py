"""The dashboard's figures (``coffer.ledger.reports``) against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import InvalidInput
from coffer.ledger import reports
from coffer.ledger import service as ledger
from tests.ledger_helpers import Account, assert_invariants, new_member, new_service

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # 09:00 on 1 March in Seoul
T1 = T0 + timedelta(hours=16)  # 01:00 on 2 March in Seoul
T2 = T0 + timedelta(hours=25)  # 10:00 on 2 March in Seoul


def _grant(
    db: Database,
    who: Account,
    amount: int,
    kind: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> None:
    source = "charge" if kind == "paid" else "event"
    db.write(
        lambda c: ledger.grant(
            c,
            who.wallet,
            amount=amount,
            kind=kind,
            source=source,
            actor="t",
            now=now,
            expires_at=expires_at,
        )
    )


def test_daily_figures_by_business_date(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    other = new_service(db, clock, name="Other")
    alice, bob, dave, eve, frank = (
        new_member(db, clock, service, name) for name in ("alice", "bob", "dave", "eve", "frank")
    )
    carol = new_member(db, clock, other, "carol")

    # 1 March (Seoul).
    _grant(db, alice, 10_000, "paid", T0)
    _grant(db, alice, 2_000, "bonus", T0, expires_at=T0 + timedelta(hours=24))
    spent = db.write(
        lambda c: ledger.spend(c, alice.wallet, amount=3_000, reference="a", actor="t", now=T0)
    )  # bonus 2,000 + paid 1,000
    _grant(db, bob, 500, "bonus", T0, expires_at=T0 + timedelta(hours=10))
    _grant(db, dave, 700, "bonus", T0, expires_at=T0 + timedelta(hours=20))
    _grant(db, eve, 100, "paid", T0)
    _grant(db, frank, 50, "bonus", T0, expires_at=T2 + timedelta(hours=1))
    _grant(db, carol, 99_999, "paid", T0)
    db.write(
        lambda c: ledger.reserve(
            c,
            eve.wallet,
            amount=100,
            expires_in_seconds=7 * 86400,
            reference=None,
            actor="t",
            now=T0,
        )
    )

    # 2 March (Seoul), 01:00: bob's 500 expires; alice's spend is reversed; she spends again.
    clock.set(T1)
    assert app.expire_lots(_runtime(db, clock)) == 1
    db.write(lambda c: ledger.reverse_spend(c, alice.wallet, spent.journal_id, actor="t", now=T1))
    db.write(
        lambda c: ledger.spend(c, alice.wallet, amount=1_000, reference="b", actor="t", now=T1)
    )
    held = db.write(
        lambda c: ledger.reserve(
            c, alice.wallet, amount=1_500, expires_in_seconds=600, reference=None, actor="t", now=T1
        )
    )
    db.write(
        lambda c: ledger.commit_hold(c, alice.wallet, held.hold.id, actor="t", now=T1, amount=1_200)
    )
    # 10:00: dave's 700 has expired too.
    clock.set(T2)
    assert app.expire_lots(_runtime(db, clock)) == 1

    days = db.read(
        lambda c: reports.daily_figures(c, service.id, date(2026, 2, 28), date(2026, 3, 3))
    )
    assert days == [
        reports.DayFigures(date(2026, 2, 28)),
        reports.DayFigures(date(2026, 3, 1), granted_paid=10_100, granted_bonus=3_250, spent=3_000),
        reports.DayFigures(date(2026, 3, 2), spent=2_200, reversed=3_000, expired=1_200),
        reports.DayFigures(date(2026, 3, 3)),
    ]
    assert days[1].granted == 13_350

    # alice (cash), eve (held only); bob and dave expired; frank's lot expired at T2+1h.
    later = T2 + timedelta(hours=2)
    assert db.read(lambda c: reports.members_with_cash(c, service.id, T2)) == 3
    assert db.read(lambda c: reports.members_with_cash(c, service.id, later)) == 2
    assert db.read(lambda c: reports.members_with_cash(c, other.id, later)) == 1

    summaries = db.read(lambda c: reports.wallet_summaries(c, [alice.member.id, eve.member.id]))
    assert summaries[eve.member.id] == reports.WalletSummary(paid=0, bonus=0, held=100)
    assert summaries[alice.member.id] == reports.WalletSummary(paid=9_800, bonus=0, held=0)
    assert db.read(lambda c: reports.wallet_summaries(c, [])) == {}
    assert db.read(lambda c: reports.reversed_journals(c, [spent.journal_id])) == {spent.journal_id}
    assert_invariants(db)


def test_the_range_is_checked(db: Database, clock: ManualClock) -> None:
    service = new_service(db, clock)
    with pytest.raises(InvalidInput):
        db.read(lambda c: reports.daily_figures(c, service.id, date(2026, 3, 2), date(2026, 3, 1)))
    with pytest.raises(InvalidInput):
        db.read(lambda c: reports.daily_figures(c, service.id, date(2025, 1, 1), date(2026, 3, 1)))


def _runtime(db: Database, clock: ManualClock) -> app.Runtime:
    from coffer.config import Settings

    return app.Runtime(Settings.from_env({}), db, clock)
