"""Grants of every kind, passes that extend, purchase lines in use and revoked, the member view.

Also holds the set-up helpers the usage tests share (products are inserted straight into the
catalog's table, so these tests do not depend on the catalog's write rules).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from coffer.catalog.model import Product
from coffer.catalog.products import get_product
from coffer.catalog.tables import content_providers, products
from coffer.db.transaction import Database
from coffer.entitlements import grants
from coffer.entitlements.items import consume_item
from coffer.entitlements.model import Entitlement, minutes_for_cash
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.tenancy.model import Service
from tests.ledger_helpers import Account, new_member, new_service

DAY = timedelta(days=1)

#: The fields each kind needs, as the catalog's CHECK constraints want them.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "item": {"price": 1_000, "consumable": True},
    "period_pass": {"price": 9_900, "pass_days": 30},
    "quantity_pass": {"price": 5_000, "units": 100, "unit_name": "unit"},
    "metered": {"price": 0, "unit_price": 10, "unit_name": "unit", "min_balance": 100},
    "mixed": {
        "price": 5_000,
        "pass_days": 30,
        "units": 100,
        "unit_name": "unit",
        "unit_price": 5,
    },
    "package": {"price": 10_000},
    "time_coupon": {"price": 1_200, "minutes": 60},
}


# --- helpers shared with test_usage and test_api_usage --------------------------------------


def new_product(
    db: Database, clock: ManualClock, service: Service, kind: str, sku: str, **fields: Any
) -> Product:
    """An on-sale product of ``kind`` (and its CP), written straight into the catalog tables."""
    now = clock.now()
    status = fields.pop("status", "on_sale")

    def write(conn: Connection) -> Product:
        cp_id = conn.execute(
            select(content_providers.c.id).where(content_providers.c.service_id == service.id)
        ).scalar()
        if cp_id is None:
            cp_id = uuid7()
            conn.execute(
                content_providers.insert().values(
                    id=cp_id, service_id=service.id, name="Studio", contact="", status="active",
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        product_id = uuid7()
        conn.execute(
            products.insert().values(
                id=product_id, service_id=service.id, sku=sku, kind=kind, status=status,
                cp_id=cp_id, name_ko=sku, name_en=sku, description_ko="", description_en="",
                cancel_window_seconds=86_400, created_at=now, updated_at=now,
                **{**KIND_DEFAULTS[kind], **fields},
            )
        )  # fmt: skip
        return get_product(conn, service.id, product_id)

    return db.write(write)


def grant(
    db: Database,
    clock: ManualClock,
    account: Account,
    product: Product,
    quantity: int = 1,
    line: UUID | None = None,
) -> list[UUID]:
    return db.write(
        lambda conn: grants.grant_product(
            conn, service_id=account.service.id, member_id=account.member.id, product=product,
            quantity=quantity, purchase_line_id=line, now=clock.now(),
        )
    )  # fmt: skip


def grant_minutes(db: Database, clock: ManualClock, account: Account, minutes: int) -> UUID:
    return db.write(
        lambda conn: grants.grant_minutes(
            conn, service_id=account.service.id, member_id=account.member.id, minutes=minutes,
            purchase_line_id=None, now=clock.now(),
        )
    )  # fmt: skip


def entitlement(db: Database, entitlement_id: UUID) -> Entitlement:
    row = db.read(
        lambda conn: (
            conn.execute(select(entitlements).where(entitlements.c.id == entitlement_id))
            .mappings()
            .one()
        )
    )
    return grants.entitlement_of(row)


def set_ends_at(db: Database, entitlement_id: UUID, ends_at: datetime) -> None:
    """Give a time entitlement an end (operators may; purchases do not)."""
    db.write(
        lambda conn: conn.execute(
            update(entitlements).where(entitlements.c.id == entitlement_id).values(ends_at=ends_at)
        )
    )


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def service(db: Database, clock: ManualClock) -> Service:
    return new_service(db, clock)


@pytest.fixture
def alice(db: Database, clock: ManualClock, service: Service) -> Account:
    return new_member(db, clock, service, "alice")


# --- grants of every kind -------------------------------------------------------------------


def test_items_consumable_and_durable(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    potion = new_product(db, clock, service, "item", "potion")
    sword = new_product(db, clock, service, "item", "sword", consumable=False)
    line = uuid7()

    [potions] = grant(db, clock, alice, potion, 3, line)
    [swords] = grant(db, clock, alice, sword, 1)

    got = entitlement(db, potions)
    assert (got.kind, got.status, got.granted, got.remaining) == ("item", "active", 3, 3)
    assert (got.product_id, got.purchase_line_id, got.member_id) == (
        potion.id,
        line,
        alice.member.id,
    )
    assert (got.starts_at, got.ends_at) == (clock.now(), None)
    assert entitlement(db, swords).remaining == 1


def test_quantity_time_and_minutes(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    calls = new_product(db, clock, service, "quantity_pass", "calls", units=50)
    hours = new_product(db, clock, service, "time_coupon", "hour", minutes=60)

    [quantity] = grant(db, clock, alice, calls, 3)
    [time] = grant(db, clock, alice, hours, 2)
    minutes = grant_minutes(db, clock, alice, 25)

    got = entitlement(db, quantity)
    assert (got.kind, got.granted, got.remaining, got.unit_name) == (
        "quantity_pass",
        150,
        150,
        "unit",
    )
    got = entitlement(db, time)
    assert (got.kind, got.granted, got.unit_name, got.product_id) == (
        "time",
        120,
        "minute",
        hours.id,
    )
    got = entitlement(db, minutes)
    assert (got.kind, got.granted, got.product_id) == ("time", 25, None)
    view = db.read(lambda conn: grants.member_entitlements(conn, alice.member.id, clock.now()))
    assert view.time_minutes == 145


def test_buying_a_period_pass_again_extends_it(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    monthly = new_product(db, clock, service, "period_pass", "monthly", pass_days=30)
    other = new_product(db, clock, service, "period_pass", "weekly", pass_days=7)
    start = clock.now()

    [first] = grant(db, clock, alice, monthly)
    clock.advance(DAY * 10)
    second, third = grant(db, clock, alice, monthly, 2)
    [weekly] = grant(db, clock, alice, other)

    spans = [
        (entitlement(db, e).starts_at, entitlement(db, e).ends_at) for e in (first, second, third)
    ]
    assert spans == [
        (start, start + DAY * 30),
        (start + DAY * 30, start + DAY * 60),
        (start + DAY * 60, start + DAY * 90),
    ]
    # Another product's pass starts now: extension is per product.
    assert entitlement(db, weekly).starts_at == clock.now()
    # After the passes have run out, a new one starts now again.
    clock.advance(DAY * 100)
    [later] = grant(db, clock, alice, monthly)
    assert entitlement(db, later).starts_at == clock.now()


def test_mixed_pass_carries_its_units_and_extends(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    plan = new_product(db, clock, service, "mixed", "plan", pass_days=30, units=100)
    start = clock.now()

    [first] = grant(db, clock, alice, plan, 2)
    [second] = grant(db, clock, alice, plan)

    got = entitlement(db, first)
    assert (got.kind, got.granted, got.remaining, got.unit_name) == ("mixed", 200, 200, "unit")
    assert (got.starts_at, got.ends_at) == (start, start + DAY * 60)
    got = entitlement(db, second)
    assert (got.starts_at, got.ends_at, got.granted) == (start + DAY * 60, start + DAY * 90, 100)


def test_metered_and_packages_are_not_grantable_and_bad_quantities_refused(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    metered = new_product(db, clock, service, "metered", "per-call")
    package = new_product(db, clock, service, "package", "bundle")
    potion = new_product(db, clock, service, "item", "potion")
    elsewhere = new_product(db, clock, new_service(db, clock, name="Other"), "item", "potion")

    for product in (metered, package):
        with pytest.raises(InvalidInput) as refused:
            grant(db, clock, alice, product)
        assert refused.value.code == "product_not_grantable"
    for quantity in (0, -1, True, 10_001):
        with pytest.raises(InvalidInput) as refused:
            grant(db, clock, alice, potion, quantity)
        assert refused.value.code == "invalid_quantity"
    with pytest.raises(InvalidInput) as refused:
        grant_minutes(db, clock, alice, 0)
    assert refused.value.code == "invalid_minutes"
    with pytest.raises(NotFound):
        grant(db, clock, alice, elsewhere)
    assert db.read(lambda conn: grants.live_entitlements(conn, alice.member.id, clock.now())) == []


# --- purchase lines: in use, revoked --------------------------------------------------------


def _in_use(db: Database, clock: ManualClock, line: UUID) -> bool:
    return db.write(lambda conn: grants.line_in_use(conn, line, clock.now()))


def _revoke(db: Database, clock: ManualClock, line: UUID) -> int:
    return db.write(lambda conn: grants.revoke_line(conn, line, clock.now()))


def test_line_in_use_and_revoke(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    potion = new_product(db, clock, service, "item", "potion")
    monthly = new_product(db, clock, service, "period_pass", "monthly")
    calls = new_product(db, clock, service, "quantity_pass", "calls")
    items_line, pass_line, future_line, calls_line = uuid7(), uuid7(), uuid7(), uuid7()
    [potions] = grant(db, clock, alice, potion, 2, items_line)
    grant(db, clock, alice, monthly, 1, pass_line)
    grant(db, clock, alice, monthly, 2, future_line)
    grant(db, clock, alice, calls, 1, calls_line)

    # Nothing used, and the pass bought this instant has not begun.
    assert [_in_use(db, clock, line) for line in (items_line, pass_line, calls_line)] == [
        False, False, False,
    ]  # fmt: skip
    assert _in_use(db, clock, uuid7()) is False

    db.write(lambda conn: consume_item(conn, alice.member.id, potions, 1, clock.now()))
    clock.advance(timedelta(seconds=1))
    assert _in_use(db, clock, items_line) is True
    assert _in_use(db, clock, pass_line) is True  # its time has begun
    assert _in_use(db, clock, future_line) is False  # starts in 30 days

    assert _revoke(db, clock, future_line) == 2
    assert _revoke(db, clock, future_line) == 0
    assert _revoke(db, clock, pass_line) == 1
    assert _in_use(db, clock, pass_line) is False  # revoked entitlements no longer count
    view = db.read(lambda conn: grants.member_entitlements(conn, alice.member.id, clock.now()))
    assert view.passes == []
    assert view.play_covered_until is None
    # A pass bought now starts now: the revoked ones left no days behind.
    [again] = grant(db, clock, alice, monthly)
    assert entitlement(db, again).starts_at == clock.now()


def test_a_revoked_pass_in_a_chain_keeps_the_later_dates(
    db: Database, clock: ManualClock, service: Service, alice: Account
) -> None:
    monthly = new_product(db, clock, service, "period_pass", "monthly", pass_days=30)
    start = clock.now()
    first_line, second_line, third_line = uuid7(), uuid7(), uuid7()
    grant(db, clock, alice, monthly, 1, first_line)
    grant(db, clock, alice, monthly, 1, second_line)
    [third] = grant(db, clock, alice, monthly, 1, third_line)

    assert _revoke(db, clock, second_line) == 1

    assert entitlement(db, third).starts_at == start + DAY * 60
    view = db.read(lambda conn: grants.member_entitlements(conn, alice.member.id, clock.now()))
    assert [(p.starts_at, p.ends_at) for p in view.passes] == [
        (start, start + DAY * 30),
        (start + DAY * 60, start + DAY * 90),
    ]
    # The break in the chain shows: play time is covered until the first pass ends.
    assert view.play_covered_until == start + DAY * 30


# --- the member's view, and consuming items -------------------------------------------------


def test_member_view(db: Database, clock: ManualClock, service: Service, alice: Account) -> None:
    potion = new_product(db, clock, service, "item", "potion")
    monthly = new_product(db, clock, service, "period_pass", "monthly", pass_days=30)
    calls = new_product(db, clock, service, "quantity_pass", "calls", units=10)
    texts = new_product(db, clock, service, "quantity_pass", "texts", units=5)
    hours = new_product(db, clock, service, "time_coupon", "hour")
    bob = new_member(db, clock, service, "bob")
    start = clock.now()

    [potions] = grant(db, clock, alice, potion, 4)
    grant(db, clock, alice, monthly, 2)
    grant(db, clock, alice, calls)
    grant(db, clock, alice, calls, 2)
    grant(db, clock, alice, texts)
    grant(db, clock, alice, hours)
    expiring = grant_minutes(db, clock, alice, 30)
    set_ends_at(db, expiring, start + DAY)
    grant(db, clock, bob, potion, 9)
    clock.advance(DAY * 2)

    view = db.read(lambda conn: grants.member_entitlements(conn, alice.member.id, clock.now()))
    assert [(e.id, e.remaining) for e in view.items] == [(potions, 4)]
    assert [(p.starts_at, p.ends_at) for p in view.passes] == [
        (start, start + DAY * 30),
        (start + DAY * 30, start + DAY * 60),
    ]
    assert {(q.product_id, q.remaining, q.unit_name) for q in view.quantities} == {
        (calls.id, 30, "unit"),
        (texts.id, 5, "unit"),
    }
    assert view.time_minutes == 60  # the 30 minutes ended yesterday
    assert view.play_covered_until == start + DAY * 60


def test_consume_item(db: Database, clock: ManualClock, service: Service, alice: Account) -> None:
    potion = new_product(db, clock, service, "item", "potion")
    sword = new_product(db, clock, service, "item", "sword", consumable=False)
    calls = new_product(db, clock, service, "quantity_pass", "calls")
    bob = new_member(db, clock, service, "bob")
    line = uuid7()
    [potions] = grant(db, clock, alice, potion, 3, line)
    [swords] = grant(db, clock, alice, sword)
    [units] = grant(db, clock, alice, calls)

    def consume(member: Account, entitlement_id: UUID, quantity: int) -> Entitlement:
        return db.write(
            lambda conn: consume_item(conn, member.member.id, entitlement_id, quantity, clock.now())
        )

    assert consume(alice, potions, 2).remaining == 1
    for target, quantity, code in [
        (swords, 1, "not_consumable"),
        (units, 1, "not_consumable"),
        (potions, 2, "insufficient_quantity"),
        (potions, 0, "invalid_quantity"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            consume(alice, target, quantity)
        assert refused.value.code == code
    with pytest.raises(NotFound):
        consume(bob, potions, 1)
    assert entitlement(db, potions).remaining == 1

    used_up = consume(alice, potions, 1)
    assert (used_up.remaining, used_up.status) == (0, "exhausted")
    view = db.read(lambda conn: grants.member_entitlements(conn, alice.member.id, clock.now()))
    assert [e.id for e in view.items] == [swords]

    [more] = grant(db, clock, alice, potion, 2, line)
    _revoke(db, clock, line)
    with pytest.raises(Conflict) as revoked:
        consume(alice, more, 1)
    assert revoked.value.code == "entitlement_revoked"


def test_rate_card_rounds_down_to_whole_minutes() -> None:
    assert minutes_for_cash(1_000, 20) == (50, 1_000)
    assert minutes_for_cash(1_019, 20) == (50, 1_000)
    assert minutes_for_cash(19, 20) == (0, 0)
    with pytest.raises(InvalidInput):
        minutes_for_cash(100, 0)
