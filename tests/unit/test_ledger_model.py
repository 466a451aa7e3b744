"""The pure ledger rules: consumption order, allocation, hold commit splits, business dates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from coffer.kernel.errors import InsufficientFunds
from coffer.ledger.model import Draw, LotView, allocate, business_date, by_kind, split_commit

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def lot(kind: str, remaining: int, *, expires_in: int | None = None, age: int = 0) -> LotView:
    return LotView(
        id=uuid.uuid4(),
        kind=kind,
        remaining=remaining,
        expires_at=NOW + timedelta(days=expires_in) if expires_in is not None else None,
        created_at=NOW - timedelta(days=age),
    )


def test_bonus_first_then_soonest_expiry_then_oldest() -> None:
    paid_old = lot("paid", 100, age=5)
    paid_new = lot("paid", 100, age=1)
    bonus_late = lot("bonus", 100, expires_in=20)
    bonus_soon = lot("bonus", 100, expires_in=3)
    bonus_forever = lot("bonus", 100)
    draws = allocate(
        [paid_new, bonus_forever, paid_old, bonus_late, bonus_soon],
        450,
        order="bonus_first",
        now=NOW,
    )
    assert [d.lot_id for d in draws] == [
        bonus_soon.id,
        bonus_late.id,
        bonus_forever.id,
        paid_old.id,
        paid_new.id,
    ]
    assert [d.amount for d in draws] == [100, 100, 100, 100, 50]


def test_paid_first_order() -> None:
    bonus = lot("bonus", 100, expires_in=3)
    paid = lot("paid", 100)
    draws = allocate([bonus, paid], 150, order="paid_first", now=NOW)
    assert [(d.lot_id, d.amount) for d in draws] == [(paid.id, 100), (bonus.id, 50)]


def test_expired_lots_are_never_drawn() -> None:
    expired = lot("bonus", 500, expires_in=0)
    paid = lot("paid", 100)
    with pytest.raises(InsufficientFunds) as raised:
        allocate([expired, paid], 200, order="bonus_first", now=NOW)
    assert raised.value.details == {"requested": 200, "available": 100}


def test_exact_balance_is_spendable() -> None:
    draws = allocate([lot("paid", 70), lot("bonus", 30)], 100, order="bonus_first", now=NOW)
    assert by_kind(draws) == {"paid": 70, "bonus": 30}


def test_split_commit_keeps_preferred_draws_and_returns_last_drawn_first() -> None:
    a, b, c = (uuid.uuid4() for _ in range(3))
    draws = [Draw(a, "bonus", 30), Draw(b, "paid", 50), Draw(c, "paid", 20)]
    kept, returned = split_commit(draws, 60)
    assert kept == [Draw(a, "bonus", 30), Draw(b, "paid", 30)]
    assert returned == [Draw(c, "paid", 20), Draw(b, "paid", 20)]
    assert split_commit(draws, 0) == ([], list(reversed(draws)))
    assert split_commit(draws, 100) == (draws, [])


def test_business_date_is_in_the_service_time_zone() -> None:
    late_utc = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 01:30 on 2 March in Seoul
    assert business_date(late_utc, "Asia/Seoul") == date(2026, 3, 2)
    assert business_date(late_utc, "UTC") == date(2026, 3, 1)
