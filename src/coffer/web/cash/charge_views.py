"""What the member's charge pages show, each read in one transaction and scoped to the member.

Nothing here trusts the browser: the result of a payment is the charge as the database has it
(never the ``status`` the PG's redirect carried), and a charge of another member is not found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.kernel.errors import Conflict
from coffer.ledger import queries
from coffer.ledger.model import Balance
from coffer.payments import refunds, routing
from coffer.payments.charge_search import (
    ChargeFilter,
    ChargePage,
    member_charge,
    refundable_amounts,
    search_charges,
)
from coffer.payments.charges import Charge
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.refunds import Refund
from coffer.payments.states import OPEN_STATUSES, REFUND_IN_FLIGHT
from coffer.pricing import bonuses
from coffer.tenancy.cash_sessions import CashSession
from coffer.tenancy.model import Service

#: Charges on one page of "my charges".
CHARGES_PAGE = 20


def offered_methods(conn: Connection, service_id: UUID, now: datetime) -> list[str]:
    """The methods a charge could use right now: routed to an active PG that is not failing."""
    offered: list[str] = []
    for method in PAYMENT_METHODS:
        try:
            routing.route(conn, service_id, method, pg=None, now=now)
        except Conflict:  # not offered, or every PG for it is out of routing for now
            continue
        offered.append(method)
    return offered


@dataclass(frozen=True, slots=True)
class ChargeChoice:
    """The "charge" form: the balance now and the methods to choose from."""

    balance: Balance
    methods: list[str]


def charge_choice(conn: Connection, session: CashSession, now: datetime) -> ChargeChoice:
    return ChargeChoice(
        queries.balance(conn, session.member.id, now),
        offered_methods(conn, session.service.id, now),
    )


@dataclass(frozen=True, slots=True)
class BonusNote:
    """What refunding a charge would do to the event bonus it earned (the service's rule).

    ``takes``: what refunding all that is refundable now would take back of the bonus;
    ``blocked``: the service's rule is ``block`` and the member has spent that bonus.
    """

    rule: str
    earned: int
    takes: int
    blocked: bool


def bonus_note(
    conn: Connection, service: Service, charge: Charge, refundable: int, now: datetime
) -> BonusNote | None:
    """None when the charge earned no bonus."""
    if charge.lot_id is None:
        return None
    earned = bonuses.bonuses_for_lot(conn, charge.lot_id)
    if not earned:
        return None
    total = refunds.refunded_so_far(conn, charge.id) + refundable
    try:
        planned = bonuses.plan_claw_back(
            conn, service.bonus_refund, paid_lot_id=charge.lot_id, charge_amount=charge.amount,
            refunded_total=total, now=now,
        )  # fmt: skip
    except Conflict as refused:
        if refused.code != "bonus_spent_blocks_refund":
            raise
        return BonusNote(service.bonus_refund, sum(b.amount for b in earned), 0, True)
    takes = sum(p.take for p in planned)
    return BonusNote(service.bonus_refund, sum(b.amount for b in earned), takes, False)


@dataclass(frozen=True, slots=True)
class MemberChargeView:
    charge: Charge
    balance: Balance
    refunds: list[Refund]
    refundable: int
    bonus: BonusNote | None = None

    @property
    def settling(self) -> bool:
        """Still with the PG (the page polls until it settles); a virtual account waits."""
        return self.charge.status in OPEN_STATUSES and self.charge.status != "waiting_for_deposit"

    @property
    def refund_in_flight(self) -> Refund | None:
        return next((r for r in self.refunds if r.status in REFUND_IN_FLIGHT), None)


def my_charge(
    conn: Connection, session: CashSession, charge_id: UUID, now: datetime
) -> MemberChargeView:
    """One of the signed-in member's charges (``charge_not_found`` for any other)."""
    charge = member_charge(conn, session.service.id, session.member.id, charge_id)
    refundable = refunds.refundable(conn, charge)
    return MemberChargeView(
        charge,
        queries.balance(conn, session.member.id, now),
        refunds.charge_refunds(conn, charge.id),
        refundable,
        bonus_note(conn, session.service, charge, refundable, now),
    )


@dataclass(frozen=True, slots=True)
class MyCharges:
    page: ChargePage
    refundable: dict[UUID, int]
    first_page: bool
    #: Charges that earned bonus: what a refund does to it.
    bonus: dict[UUID, BonusNote] = field(default_factory=dict)


def my_charges(
    conn: Connection, session: CashSession, before: UUID | None, now: datetime
) -> MyCharges:
    """A page of the member's charges, newest first, with what each can still refund."""
    page = search_charges(
        conn,
        session.service.id,
        ChargeFilter(member_id=session.member.id),
        before=before,
        limit=CHARGES_PAGE,
    )
    refundable = refundable_amounts(conn, page.charges)
    with_bonus = bonuses.bonuses_for_lots(conn, [c.lot_id for c in page.charges if c.lot_id])
    notes: dict[UUID, BonusNote] = {}
    for charge in page.charges:
        if charge.lot_id in with_bonus and refundable.get(charge.id, 0) > 0:
            note = bonus_note(conn, session.service, charge, refundable[charge.id], now)
            if note is not None:
                notes[charge.id] = note
    return MyCharges(page, refundable, before is None, notes)
