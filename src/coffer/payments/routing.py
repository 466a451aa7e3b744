"""Which PG contracts a charge by a payment method may go to, in the order to try them.

For each (service, method) an admin sets an order (``pg_routes``). Contracts that offer the
method but are not in that order come after the ordered ones, oldest first, so a new contract
is usable before anyone orders it. A candidate is an active contract with the method enabled
whose breaker is not open (:mod:`coffer.payments.health`: a half-open breaker lets calls
through).

Refusals: ``invalid_method`` (422) for a method Coffer does not know, ``invalid_pg`` (422) for an
unknown PG company; ``method_not_offered`` (409) when no active contract offers the method (of
that PG); ``no_pg_available`` (503, :class:`NoPgAvailable`, a :class:`Conflict`) when every
candidate's breaker is open: a temporary state the caller should retry later, hence 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, case, delete, insert, select
from sqlalchemy.engine import Connection

from coffer.kernel.errors import Conflict, InvalidInput
from coffer.payments.commissions import MethodTerms, terms_of
from coffer.payments.contracts import (
    PUBLIC_COLUMNS,
    Contract,
    contract_of,
    get_contract,
    validate_method,
)
from coffer.payments.contracts import validate_pg as _validate_pg
from coffer.payments.health import open_contracts
from coffer.payments.pg_tables import pg_contract_methods, pg_contracts, pg_routes
from coffer.tenancy import service as tenancy


class NoPgAvailable(Conflict):
    """Every PG that could take the charge is out of routing for now (breakers open)."""

    status = 503

    def __init__(self, method: str) -> None:
        super().__init__(
            "no_pg_available",
            f"No PG can take {method} payments right now; try again in a minute.",
            {"method": method},
        )


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One contract in a method's order (admin view): active or not, with its terms."""

    contract: Contract
    terms: MethodTerms
    ordered: bool


def route_entries(conn: Connection, service_id: UUID, method: str) -> list[RouteEntry]:
    """Every contract of the service with the method enabled, in routing order (any status)."""
    validate_method(method)
    unordered = case((pg_routes.c.position.is_(None), 1), else_=0)
    rows = conn.execute(
        select(*PUBLIC_COLUMNS, pg_contract_methods, pg_routes.c.position)
        .join(pg_contract_methods, pg_contract_methods.c.contract_id == pg_contracts.c.id)
        .outerjoin(
            pg_routes,
            and_(
                pg_routes.c.service_id == pg_contracts.c.service_id,
                pg_routes.c.method == pg_contract_methods.c.method,
                pg_routes.c.contract_id == pg_contracts.c.id,
            ),
        )
        .where(
            pg_contracts.c.service_id == service_id,
            pg_contract_methods.c.method == method,
            pg_contract_methods.c.enabled.is_(True),
        )
        .order_by(unordered, pg_routes.c.position, pg_contracts.c.id)
    ).mappings()
    return [
        RouteEntry(contract_of(row), terms_of(row), row["position"] is not None) for row in rows
    ]


def route(
    conn: Connection, service_id: UUID, method: str, *, pg: str | None, now: datetime
) -> list[Contract]:
    """The contracts to try for a charge by ``method``, best first (see the module's rules)."""
    validate_method(method)
    if pg is not None:
        _validate_pg(pg)
    candidates = [
        entry.contract
        for entry in route_entries(conn, service_id, method)
        if entry.contract.status == "active" and (pg is None or entry.contract.pg == pg)
    ]
    if not candidates:
        where = f" through {pg}" if pg is not None else ""
        raise Conflict(
            "method_not_offered",
            f"The service does not offer {method} payments{where}.",
            {"method": method, "pg": pg},
        )
    tripped = open_contracts(conn, (c.id for c in candidates), now)
    available = [c for c in candidates if c.id not in tripped]
    if not available:
        raise NoPgAvailable(method)
    return available


def set_routes(
    conn: Connection, service_id: UUID, method: str, contract_ids: list[UUID], now: datetime
) -> list[UUID]:
    """Make ``contract_ids`` the method's order (an empty list clears it); returns the old one.

    Every id must be a contract of the service (``pg_contract_not_found``), named once
    (``duplicate_route``).
    """
    validate_method(method)
    tenancy.get_service(conn, service_id)
    if len(set(contract_ids)) != len(contract_ids):
        raise InvalidInput("duplicate_route", "A contract appears more than once in the order.")
    for contract_id in contract_ids:
        get_contract(conn, service_id, contract_id)
    before = routes(conn, service_id, method)
    conn.execute(
        delete(pg_routes).where(pg_routes.c.service_id == service_id, pg_routes.c.method == method)
    )
    if contract_ids:
        conn.execute(
            insert(pg_routes),
            [
                {
                    "service_id": service_id,
                    "method": method,
                    "position": position,
                    "contract_id": contract_id,
                    "created_at": now,
                }
                for position, contract_id in enumerate(contract_ids)
            ],
        )
    return before


def routes(conn: Connection, service_id: UUID, method: str) -> list[UUID]:
    """The stored order of a method (contract ids), as set by :func:`set_routes`."""
    return list(
        conn.execute(
            select(pg_routes.c.contract_id)
            .where(pg_routes.c.service_id == service_id, pg_routes.c.method == method)
            .order_by(pg_routes.c.position)
        ).scalars()
    )
