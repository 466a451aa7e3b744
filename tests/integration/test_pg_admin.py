"""PG administration use cases on both databases: contracts, secrets, methods, routing, limits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError, Conflict, InvalidInput, NotFound
from coffer.payments import commissions, contracts, limits, routing
from coffer.payments.commissions import MethodTerms
from coffer.payments.limits import ChargeLimits, check_charge
from coffer.payments.pg_tables import pg_contracts
from coffer.payments.secrets import SecretBox, UnreadableSecret, new_key
from coffer.tenancy.model import Service
from tests.integration.pg_support import (
    BOX,
    BOX_KEY,
    CARD,
    SECRET,
    WEBHOOK_SECRET,
    count,
    new_contract,
    pg_state,
)
from tests.ledger_helpers import new_service

TRANSFER = MethodTerms(enabled=True, commission_bp=0, fixed_fee=300, min_fee=0)


@pytest.fixture
def service(db: Database, clock: ManualClock) -> Service:
    return new_service(db, clock)


def _refused(db: Database, work: Any, error: type[CofferError], code: str) -> None:
    """``work`` is refused with ``code`` and leaves every PG table as it was."""
    before = pg_state(db)
    with pytest.raises(error) as refused:
        db.write(work)
    assert refused.value.code == code, refused.value.message
    assert pg_state(db) == before


# -- contracts and secrets ----------------------------------------------------------------


def test_a_contract_keeps_its_secrets_sealed_and_shows_only_a_hint(
    db: Database, clock: ManualClock, service: Service
) -> None:
    contract = new_contract(db, clock, service.id, methods={"card": CARD, "transfer": TRANSFER})
    assert (contract.pg, contract.name, contract.status) == ("sandbox", "Sandbox main", "active")
    assert contract.secret_hint == "…9f3k"
    assert SECRET not in repr(contract)
    row = db.read(
        lambda c: c.execute(select(pg_contracts).where(pg_contracts.c.id == contract.id)).one()
    )
    assert SECRET not in repr(tuple(row))
    assert WEBHOOK_SECRET not in repr(tuple(row))
    secrets = db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (secrets.secret_key, secrets.webhook_secret) == (SECRET, WEBHOOK_SECRET)
    with pytest.raises(UnreadableSecret):
        db.read(lambda c: contracts.contract_secrets(c, contract.id, SecretBox(new_key())))
    terms = db.read(lambda c: commissions.method_terms(c, contract.id))
    assert terms == {"card": CARD, "transfer": TRANSFER}
    assert db.read(lambda c: contracts.list_contracts(c, service.id)) == [contract]
    assert db.read(lambda c: contracts.get_contract_by_id(c, contract.id)) == contract


def test_another_services_contract_is_not_found(
    db: Database, clock: ManualClock, service: Service
) -> None:
    other = new_service(db, clock, name="Other")
    contract = new_contract(db, clock, other.id)
    for lookup in (
        lambda c: contracts.get_contract(c, service.id, contract.id),
        lambda c: contracts.get_contract_by_id(c, UUID(int=7)),
        lambda c: contracts.contract_secrets(c, UUID(int=7), BOX),
    ):
        with pytest.raises(NotFound) as missing:
            db.read(lookup)
        assert missing.value.code == "pg_contract_not_found"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"pg": "paypal"}, "invalid_pg"),
        ({"base_url": None}, "base_url_required"),
        ({"base_url": "  "}, "base_url_required"),
        ({"base_url": "ftp://pg.example"}, "invalid_base_url"),
        ({"base_url": "http://"}, "invalid_base_url"),
        ({"name": " "}, "invalid_contract_name"),
        ({"name": "x" * 101}, "invalid_contract_name"),
        ({"name": "bad\x00name"}, "invalid_contract_name"),
        ({"merchant_id": ""}, "invalid_merchant_id"),
        ({"client_key": "a\nb"}, "invalid_client_key"),
        ({"secret_key": ""}, "invalid_secret_key"),
        ({"secret_key": "s" * 501}, "invalid_secret_key"),
        ({"webhook_secret": " "}, "invalid_webhook_secret"),
        ({"methods": {"cash": CARD}}, "invalid_method"),
        ({"methods": {"card": MethodTerms(True, 10_001, 0, 0)}}, "invalid_commission"),
        ({"methods": {"card": MethodTerms(True, 100, -1, 0)}}, "invalid_commission"),
    ],
)
def test_bad_contract_input_is_refused_and_nothing_is_written(
    db: Database, clock: ManualClock, service: Service, change: dict[str, Any], code: str
) -> None:
    values: dict[str, Any] = {
        "pg": "sandbox",
        "name": "Main",
        "merchant_id": "m-1",
        "base_url": "http://127.0.0.1:8100",
        "client_key": "ck",
        "secret_key": SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "methods": {"card": CARD},
        **change,
    }
    _refused(
        db,
        lambda c: contracts.create_contract(c, service.id, box=BOX, now=clock.now(), **values),
        InvalidInput,
        code,
    )


def test_names_are_unique_per_service_and_the_service_must_exist(
    db: Database, clock: ManualClock, service: Service
) -> None:
    new_contract(db, clock, service.id, "Main")
    with pytest.raises(Conflict) as taken:
        new_contract(db, clock, service.id, " Main ")
    assert taken.value.code == "pg_contract_name_taken"
    assert count(db, "pg_contracts") == 1
    other = new_service(db, clock, name="Other")
    assert new_contract(db, clock, other.id, "Main").name == "Main"
    with pytest.raises(NotFound) as missing:
        new_contract(db, clock, UUID(int=5), "Main")
    assert missing.value.code == "service_not_found"


def test_toss_and_stripe_contracts_may_leave_the_base_url_out(
    db: Database, clock: ManualClock, service: Service
) -> None:
    toss = new_contract(db, clock, service.id, "Toss", pg="toss")
    stripe = new_contract(db, clock, service.id, "Stripe fake", pg="stripe", base_url="http://x:9")
    assert (toss.base_url, stripe.base_url) == (None, "http://x:9")


def _update(
    db: Database, clock: ManualClock, service_id: UUID, contract_id: UUID, **kw: Any
) -> Any:
    current = db.read(lambda c: contracts.get_contract(c, service_id, contract_id))
    values: dict[str, Any] = {
        "name": current.name,
        "merchant_id": current.merchant_id,
        "base_url": current.base_url,
        "client_key": current.client_key,
        **kw,
    }
    return db.write(
        lambda c: contracts.update_contract(
            c, service_id, contract_id, box=BOX, now=clock.now(), **values
        )
    )


def test_update_replaces_secrets_only_when_new_ones_are_given(
    db: Database, clock: ManualClock, service: Service
) -> None:
    contract = new_contract(db, clock, service.id)
    renamed = _update(db, clock, service.id, contract.id, name="Renamed", secret_key="")
    assert (renamed.name, renamed.secret_hint) == ("Renamed", contract.secret_hint)
    kept = db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (kept.secret_key, kept.webhook_secret) == (SECRET, WEBHOOK_SECRET)
    rekeyed = _update(
        db, clock, service.id, contract.id, secret_key="sk_new_000000wxyz", webhook_secret="wh_new"
    )
    assert rekeyed.secret_hint == "…wxyz"
    fresh = db.read(lambda c: contracts.contract_secrets(c, contract.id, BOX))
    assert (fresh.secret_key, fresh.webhook_secret) == ("sk_new_000000wxyz", "wh_new")
    with pytest.raises(Conflict) as same:
        _update(db, clock, service.id, contract.id)
    assert same.value.code == "pg_contract_unchanged"


def test_update_refusals_write_nothing(db: Database, clock: ManualClock, service: Service) -> None:
    first = new_contract(db, clock, service.id, "First")
    new_contract(db, clock, service.id, "Second")
    base = {"merchant_id": "m", "client_key": "ck", "box": BOX, "now": clock.now()}
    cases: list[tuple[Any, type[CofferError], str]] = [
        (
            lambda c: contracts.update_contract(
                c, service.id, first.id, name="Second", base_url="http://h", **base
            ),
            Conflict,
            "pg_contract_name_taken",
        ),
        (
            lambda c: contracts.update_contract(
                c, service.id, first.id, name="First", base_url=None, secret_key="new", **base
            ),
            InvalidInput,
            "base_url_required",
        ),
        (
            lambda c: contracts.update_contract(
                c, service.id, UUID(int=1), name="X", base_url="http://h", **base
            ),
            NotFound,
            "pg_contract_not_found",
        ),
    ]
    for work, error, code in cases:
        _refused(db, work, error, code)


def test_a_disabled_contract_is_not_routed_to(
    db: Database, clock: ManualClock, service: Service
) -> None:
    first = new_contract(db, clock, service.id, "First")
    new_contract(db, clock, service.id, "Second")

    def set_status(status: str) -> Any:
        return lambda c: contracts.set_status(c, service.id, first.id, status, now=clock.now())

    assert db.write(set_status("disabled")).status == "disabled"
    names = [c.name for c in _route(db, clock, service.id, "card")]
    assert names == ["Second"]
    _refused(db, set_status("disabled"), Conflict, "pg_contract_status_unchanged")
    _refused(db, set_status("paused"), InvalidInput, "invalid_contract_status")
    db.write(set_status("active"))
    assert [c.name for c in _route(db, clock, service.id, "card")] == ["First", "Second"]


def test_reseal_moves_every_secret_to_the_new_key(
    db: Database, clock: ManualClock, service: Service
) -> None:
    contract = new_contract(db, clock, service.id)
    new = new_key()
    rotating = SecretBox(f"{new},{BOX_KEY}")
    assert db.write(lambda c: contracts.reseal_secrets(c, rotating, now=clock.now())) == 1
    opened = db.read(lambda c: contracts.contract_secrets(c, contract.id, SecretBox(new)))
    assert (opened.secret_key, opened.webhook_secret) == (SECRET, WEBHOOK_SECRET)


# -- methods and commissions ---------------------------------------------------------------


def test_methods_are_set_changed_and_priced(
    db: Database, clock: ManualClock, service: Service
) -> None:
    contract = new_contract(db, clock, service.id)

    def set_method(method: str, terms: MethodTerms) -> Any:
        return lambda c: contracts.set_method(
            c, service.id, contract.id, method, terms, now=clock.now()
        )

    assert db.write(set_method("transfer", TRANSFER)) is None
    cheaper = MethodTerms(enabled=True, commission_bp=200, fixed_fee=0, min_fee=100)
    assert db.write(set_method("card", cheaper)) == CARD
    fee = db.read(lambda c: commissions.expected_fee(c, contract.id, "card", 10_000))
    assert fee == 200
    assert db.read(lambda c: commissions.expected_fee(c, contract.id, "card", 1_000)) == 100
    assert db.read(lambda c: commissions.expected_fee(c, contract.id, "transfer", 5)) == 300
    with pytest.raises(Conflict) as missing:
        db.read(lambda c: commissions.expected_fee(c, contract.id, "mobile", 1_000))
    assert missing.value.code == "method_not_offered"
    _refused(db, set_method("card", cheaper), Conflict, "pg_method_unchanged")
    _refused(db, set_method("cash", cheaper), InvalidInput, "invalid_method")
    _refused(
        db, set_method("card", MethodTerms(True, -1, 0, 0)), InvalidInput, "invalid_commission"
    )
    off = MethodTerms(enabled=False, commission_bp=200, fixed_fee=0, min_fee=100)
    db.write(set_method("card", off))
    with pytest.raises(Conflict) as not_offered:
        _route(db, clock, service.id, "card")
    assert not_offered.value.code == "method_not_offered"


# -- routing -----------------------------------------------------------------------------


def _route(
    db: Database, clock: ManualClock, service_id: UUID, method: str, pg: str | None = None
) -> list[contracts.Contract]:
    return db.read(lambda c: routing.route(c, service_id, method, pg=pg, now=clock.now()))


def test_routing_follows_the_set_order_then_the_oldest(
    db: Database, clock: ManualClock, service: Service
) -> None:
    a = new_contract(db, clock, service.id, "A")
    b = new_contract(db, clock, service.id, "B", pg="toss")
    c = new_contract(db, clock, service.id, "C")
    assert [x.name for x in _route(db, clock, service.id, "card")] == ["A", "B", "C"]
    before = db.write(
        lambda conn: routing.set_routes(conn, service.id, "card", [c.id], clock.now())
    )
    assert before == []
    assert [x.name for x in _route(db, clock, service.id, "card")] == ["C", "A", "B"]
    db.write(
        lambda conn: routing.set_routes(conn, service.id, "card", [b.id, a.id, c.id], clock.now())
    )
    assert [x.name for x in _route(db, clock, service.id, "card")] == ["B", "A", "C"]
    assert [x.name for x in _route(db, clock, service.id, "card", pg="sandbox")] == ["A", "C"]
    assert [x.name for x in _route(db, clock, service.id, "card", pg="toss")] == ["B"]
    entries = db.read(lambda conn: routing.route_entries(conn, service.id, "card"))
    assert [(e.contract.name, e.ordered, e.terms) for e in entries] == [
        ("B", True, CARD),
        ("A", True, CARD),
        ("C", True, CARD),
    ]
    db.write(lambda conn: routing.set_routes(conn, service.id, "card", [], clock.now()))
    assert [x.name for x in _route(db, clock, service.id, "card")] == ["A", "B", "C"]


def test_routing_refusals(db: Database, clock: ManualClock, service: Service) -> None:
    new_contract(db, clock, service.id, "A")
    cases: list[tuple[str, str | None, type[CofferError], str]] = [
        ("cash", None, InvalidInput, "invalid_method"),
        ("card", "paypal", InvalidInput, "invalid_pg"),
        ("mobile", None, Conflict, "method_not_offered"),
        ("card", "stripe", Conflict, "method_not_offered"),
    ]
    for method, pg, error, code in cases:
        with pytest.raises(error) as refused:
            _route(db, clock, service.id, method, pg)
        assert refused.value.code == code


def test_set_routes_refusals_write_nothing(
    db: Database, clock: ManualClock, service: Service
) -> None:
    a = new_contract(db, clock, service.id, "A")
    other = new_contract(db, clock, new_service(db, clock, name="Other").id, "Theirs")
    db.write(lambda conn: routing.set_routes(conn, service.id, "card", [a.id], clock.now()))
    cases: list[tuple[str, list[UUID], type[CofferError], str]] = [
        ("card", [a.id, a.id], InvalidInput, "duplicate_route"),
        ("card", [other.id], NotFound, "pg_contract_not_found"),
        ("wire", [a.id], InvalidInput, "invalid_method"),
    ]
    for method, ids, error, code in cases:
        _refused(
            db,
            lambda conn, m=method, i=ids: routing.set_routes(conn, service.id, m, i, clock.now()),
            error,
            code,
        )


# -- charge limits ---------------------------------------------------------------------------


def test_limits_are_stored_replaced_and_cleared(
    db: Database, clock: ManualClock, service: Service
) -> None:
    assert db.read(lambda c: limits.get_limits(c, service.id, "mobile")) is None
    carrier = ChargeLimits(
        min_amount=1_000, max_amount=300_000, amount_step=1_000, per_member_month=300_000
    )

    def set_limits(value: ChargeLimits, method: str = "mobile") -> Any:
        return lambda c: limits.set_limits(c, service.id, method, value, now=clock.now())

    assert db.write(set_limits(carrier)) is None
    assert db.read(lambda c: limits.get_limits(c, service.id, "mobile")) == carrier
    _refused(db, set_limits(carrier), Conflict, "charge_limits_unchanged")
    bad = [
        ChargeLimits(min_amount=0),
        ChargeLimits(amount_step=0),
        ChargeLimits(min_amount=5_000, max_amount=1_000),
        ChargeLimits(per_member_day=0),
        ChargeLimits(per_member_month=-1),
        ChargeLimits(max_amount=2**60),
    ]
    for value in bad:
        _refused(db, set_limits(value), InvalidInput, "invalid_charge_limits")
    _refused(db, set_limits(carrier, "cash"), InvalidInput, "invalid_method")
    looser = ChargeLimits(min_amount=1_000, amount_step=1_000)
    assert db.write(set_limits(looser)) == carrier
    assert db.read(lambda c: limits.all_limits(c, service.id)) == {"mobile": looser}
    assert db.write(lambda c: limits.clear_limits(c, service.id, "mobile")) == looser
    _refused(
        db,
        lambda c: limits.clear_limits(c, service.id, "mobile"),
        Conflict,
        "charge_limits_not_set",
    )


CARRIER = ChargeLimits(
    min_amount=1_000,
    max_amount=100_000,
    amount_step=1_000,
    per_member_day=150_000,
    per_member_month=300_000,
)


@pytest.mark.parametrize(
    ("amount", "today", "month", "error", "code"),
    [
        (0, 0, 0, InvalidInput, "invalid_amount"),
        (500, 0, 0, InvalidInput, "amount_below_minimum"),
        (101_000, 0, 0, InvalidInput, "amount_above_maximum"),
        (1_500, 0, 0, InvalidInput, "invalid_amount_step"),
        (60_000, 100_000, 100_000, Conflict, "daily_charge_limit"),
        (50_000, 100_000, 260_000, Conflict, "monthly_charge_limit"),
    ],
)
def test_check_charge_refusals(
    amount: int, today: int, month: int, error: type[CofferError], code: str
) -> None:
    with pytest.raises(error) as refused:
        check_charge(CARRIER, amount, member_today=today, member_this_month=month)
    assert refused.value.code == code


def test_check_charge_allows_up_to_the_caps_and_without_limits_any_positive_amount() -> None:
    check_charge(CARRIER, 50_000, member_today=100_000, member_this_month=250_000)
    check_charge(None, 1, member_today=10**12, member_this_month=10**12)
    with pytest.raises(Conflict) as refused:
        check_charge(CARRIER, 1_000, member_today=150_000, member_this_month=0)
    assert refused.value.details == {"limit": 150_000, "used": 150_000, "remaining": 0}
    with pytest.raises(InvalidInput):
        check_charge(None, -5, member_today=0, member_this_month=0)
