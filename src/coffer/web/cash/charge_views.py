"""What the member's charge pages show, each read in one transaction and scoped to the member.

Nothing here trusts the browser: the result of a payment is the charge as the database has it
(never the ``status`` the PG's redirect carried), and a charge of another member is not found.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from coffer.tenancy.cash_sessions import CashSession

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
class MemberChargeView:
    charge: Charge
    balance: Balance
    refunds: list[Refund]
    refundable: int

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
    return MemberChargeView(
        charge,
        queries.balance(conn, session.member.id, now),
        refunds.charge_refunds(conn, charge.id),
        refunds.refundable(conn, charge),
    )


@dataclass(frozen=True, slots=True)
class MyCharges:
    page: ChargePage
    refundable: dict[UUID, int]
    first_page: bool


def my_charges(conn: Connection, session: CashSession, before: UUID | None) -> MyCharges:
    """A page of the member's charges, newest first, with what each can still refund."""
    page = search_charges(
        conn,
        session.service.id,
        ChargeFilter(member_id=session.member.id),
        before=before,
        limit=CHARGES_PAGE,
    )
    return MyCharges(page, refundable_amounts(conn, page.charges), before is None)
