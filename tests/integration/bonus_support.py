"""Helpers for the charge-event tests (this module holds no tests).

A service with a sandbox contract whose PG is never called; charges are settled by applying the
``Approved`` outcome a PG adapter would report (``payments.apply.apply_outcome``, as a webhook
would), refunds go through ``payments.refunds.request_refund`` and are then completed or refused
as the refund job would after the PG's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.queries import LotRecord
from coffer.ledger.tables import journals
from coffer.payments import refunds
from coffer.payments.charges import Charge
from coffer.payments.refunds import Refund
from coffer.pricing import bonuses
from coffer.pricing.bonuses import EventBonus
from coffer.pricing.model import EventRule
from coffer.pricing.versioned import EVENTS, Versioned
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from tests.integration.charge_support import connect_sandbox, make_charge


@dataclass(frozen=True)
class Scene:
    db: Database
    clock: ManualClock
    service: Service


def new_scene(db: Database, clock: ManualClock, members: int = 3, **settings: Any) -> Scene:
    """A service (``settings``: e.g. ``bonus_refund="block"``) with members m0, m1, …"""

    def setup(conn: Connection) -> Service:
        service, _key = app.create_service(
            conn, name="Acme", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        for n in range(members):
            app.create_member(conn, service, f"m{n}", clock=clock)
        if settings:
            service = tenancy.update_service_settings(conn, service.id, **settings)
        return service

    service = db.write(setup)
    connect_sandbox(db, clock, service)
    return Scene(db, clock, service)


def new_event(
    scene: Scene, rule: dict[str, Any], *, name: str = "Bonus event", budget: int | None = None
) -> Versioned[EventRule]:
    """An active charge event."""
    now = scene.clock.now()

    def work(conn: Connection) -> Versioned[EventRule]:
        event = EVENTS.create(
            conn, scene.service.id, name=name, rule=rule, budget=budget, actor="admin:t", now=now
        )
        return EVENTS.activate(conn, scene.service.id, event.id, now=now)

    return scene.db.write(work)


def charge(scene: Scene, external_id: str, amount: int, method: str = "card") -> Charge:
    """An approved charge of the member (its cash credited, its bonuses granted)."""
    done = make_charge(
        scene.db, scene.clock, scene.service, external_id, amount=amount, method=method
    )
    assert done.status == "approved", done
    return done


def member_id(scene: Scene, external_id: str) -> UUID:
    return scene.db.read(lambda conn: tenancy.get_member(conn, scene.service.id, external_id).id)


def bonus_lots(scene: Scene, external_id: str) -> list[LotRecord]:
    """The member's event lots, empty ones included, oldest first."""
    mid = member_id(scene, external_id)
    found = scene.db.read(lambda conn: queries.member_lots(conn, mid, include_empty=True))
    return [lot for lot in found if lot.source == "event"]


def bonuses_of(scene: Scene, done: Charge) -> list[EventBonus]:
    assert done.lot_id is not None
    lot_id = done.lot_id
    return scene.db.read(lambda conn: bonuses.bonuses_for_lot(conn, lot_id))


def balance(scene: Scene, external_id: str) -> tuple[int, int]:
    """(paid, bonus) available now."""
    mid = member_id(scene, external_id)
    found = scene.db.read(lambda conn: queries.balance(conn, mid, scene.clock.now()))
    return found.paid, found.bonus


def refund(scene: Scene, done: Charge, amount: int | None = None) -> Refund:
    return scene.db.write(
        lambda conn: refunds.request_refund(
            conn, scene.service.id, done.id, amount=amount, reason="asked", actor="admin:t",
            now=scene.clock.now(), timezone=scene.service.timezone, resolve=app.resolve_wallet,
        )
    )  # fmt: skip


def pg_cancelled(scene: Scene, refund_id: UUID) -> None:
    """The PG cancelled the refund's amount (what the refund job records)."""

    def work(conn: Connection) -> None:
        found = refunds.get_refund(conn, refund_id, lock=True)
        refunds.complete(conn, found, "tx_1", source="refund", now=scene.clock.now())

    scene.db.write(work)


def pg_refused(scene: Scene, refund_id: UUID) -> None:
    """The PG refused the cancel (what the refund job records)."""

    def work(conn: Connection) -> None:
        found = refunds.get_refund(conn, refund_id, lock=True)
        refunds.refuse(
            conn, found, "NOT_CANCELABLE", "already settled", source="refund",
            now=scene.clock.now(), resolve=app.resolve_wallet,
        )  # fmt: skip

    scene.db.write(work)


def spend(scene: Scene, external_id: str, amount: int) -> None:
    def work(conn: Connection) -> None:
        _member, wallet = app.member_wallet(conn, scene.service, external_id, spending=True)
        ledger.spend(
            conn, wallet, amount=amount, reference="item", actor="t", now=scene.clock.now()
        )

    scene.db.write(work)


def journal_kinds(scene: Scene, external_id: str) -> list[str]:
    mid = member_id(scene, external_id)
    return scene.db.read(
        lambda conn: [
            row[0]
            for row in conn.execute(
                select(journals.c.kind).where(journals.c.member_id == mid).order_by(journals.c.id)
            )
        ]
    )


def budget_spent(scene: Scene, event_id: UUID) -> int:
    return scene.db.read(lambda conn: EVENTS.get(conn, scene.service.id, event_id).budget_spent)
