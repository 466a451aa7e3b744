"""Helpers for the charge page tests: charges in any state without a PG (this module holds no
tests).

A service is connected to a sandbox contract whose PG is never called (the pages only read and
write the database); a charge is opened through ``app.create_charge`` and settled by applying
the outcome a PG adapter would report (``apply.apply_outcome``), as a webhook would.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.payments.apply import apply_outcome
from coffer.payments.charges import Charge, annotate, charge_by_id
from coffer.payments.gateways.outcomes import (
    PAYMENT_METHODS,
    Approved,
    Declined,
    PaymentOutcome,
    Unknown,
    WaitingForDeposit,
)
from coffer.payments.onboarding import connect_pg
from coffer.payments.refunds import Refund, charge_refunds
from coffer.payments.tables import charges, refunds
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from tests.integration.pg_support import BOX

RETURN_URL = "http://shop.test/back"


def connect_sandbox(
    db: Database, clock: ManualClock, service: Service, methods: tuple[str, ...] = PAYMENT_METHODS
) -> None:
    """A sandbox contract offering ``methods`` (its PG is never called by these tests)."""
    db.write(
        lambda conn: connect_pg(
            conn, service.id, pg="sandbox", name="Sandbox", base_url="http://127.0.0.1:9",
            merchant_id="m", client_key="ck", secret_key="sk", webhook_secret="wh",
            box=BOX, now=clock.now(), methods=methods,
        )
    )  # fmt: skip


def _outcome(charge: Charge, status: str, clock: ManualClock) -> PaymentOutcome | None:
    key = f"pay_{uuid4().hex[:12]}"
    if status == "approved":
        return Approved(key, charge.order_id, charge.amount, charge.method, clock.now())
    if status == "waiting_for_deposit":
        due = clock.now() + timedelta(days=3)
        return WaitingForDeposit(key, charge.order_id, charge.amount, "110-222-333444", "88", due)
    if status == "failed":
        return Declined("REJECT_CARD_PAYMENT", "the card issuer declined")
    if status == "unknown":
        return Unknown("timeout")
    assert status == "created", status
    return None


def make_charge(
    db: Database,
    clock: ManualClock,
    service: Service,
    external_id: str,
    *,
    amount: int = 10_000,
    method: str = "card",
    status: str = "approved",
) -> Charge:
    """A charge of the member, settled to ``status`` (approved credits the cash)."""

    def work(conn: Connection) -> Charge:
        charge = app.create_charge(
            conn, service, external_id, amount=amount, method=method, pg=None,
            return_url=RETURN_URL, now=clock.now(),
        )  # fmt: skip
        outcome = _outcome(charge, status, clock)
        if outcome is None:
            return charge
        return apply_outcome(
            conn, charge.id, outcome, source="webhook", now=clock.now(), resolve=app.resolve_wallet
        )

    return db.write(work)


def flag(db: Database, clock: ManualClock, charge: Charge, attention: str) -> Charge:
    """Mark a charge for a person, as the janitor or a mismatched return would."""
    return db.write(
        lambda conn: annotate(
            conn, charge_by_id(conn, charge.id, lock=True), now=clock.now(), source="janitor",
            event=attention, attention=attention,
        )
    )  # fmt: skip


def spend(
    db: Database, clock: ManualClock, service: Service, external_id: str, amount: int
) -> None:
    def work(conn: Connection) -> None:
        _member, wallet = app.member_wallet(conn, service, external_id, spending=True)
        ledger.spend(conn, wallet, amount=amount, reference="item", actor="test", now=clock.now())

    db.write(work)


def charge(db: Database, charge_id: UUID) -> Charge:
    return db.read(lambda conn: charge_by_id(conn, charge_id))


def refunds_of(db: Database, charge_id: UUID) -> list[Refund]:
    return db.read(lambda conn: charge_refunds(conn, charge_id))


def available(db: Database, clock: ManualClock, service: Service, external_id: str) -> int:
    def read(conn: Connection) -> int:
        member = tenancy.get_member(conn, service.id, external_id)
        return queries.balance(conn, member.id, clock.now()).available

    return db.read(read)


def counts(db: Database) -> tuple[Any, ...]:
    """How many charges and refunds there are (to show that nothing was added)."""

    def read(conn: Connection) -> tuple[Any, ...]:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (charges, refunds)
        )

    return db.read(read)
