"""What a PG charges per payment method: a rate in basis points, a fixed fee and a minimum.

The rule written in every contract (amounts in minor units, integers only)::

    fee = max(min_fee, round_half_up(amount * commission_bp / 10000) + fixed_fee)

``round_half_up`` rounds a half unit up: 2.5 % of 1,010 won is 25.25 → 25; of 1,020 won,
25.5 → 26. For non-negative integers it is ``(amount * bp + 5000) // 10000``, so no float or
Decimal is ever involved. The fee is never negative and never falls as the amount grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from coffer.kernel.errors import Conflict, InvalidInput
from coffer.kernel.money import MAX_AMOUNT, parse_amount
from coffer.payments.pg_tables import pg_contract_methods

#: Basis points in a whole: 10000 bp = 100 %.
BASIS = 10_000


@dataclass(frozen=True, slots=True)
class MethodTerms:
    """One payment method of one contract: whether it is offered, and its commission."""

    enabled: bool
    commission_bp: int
    fixed_fee: int
    min_fee: int


def validate_terms(terms: MethodTerms) -> MethodTerms:
    """``terms`` if every number is an int in range; ``invalid_commission`` otherwise."""
    if not isinstance(terms.enabled, bool):
        raise InvalidInput("invalid_commission", "enabled must be true or false.")
    numbers = {
        "commission_bp": (terms.commission_bp, BASIS),
        "fixed_fee": (terms.fixed_fee, MAX_AMOUNT),
        "min_fee": (terms.min_fee, MAX_AMOUNT),
    }
    for name, (value, top) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise InvalidInput(
                "invalid_commission",
                f"{name} must be a whole number from 0 to {top}.",
                {"field": name},
            )
    return terms


def round_half_up_bp(amount: int, commission_bp: int) -> int:
    """``amount * commission_bp / 10000`` rounded half up, for non-negative integers."""
    return (amount * commission_bp + BASIS // 2) // BASIS


def commission(terms: MethodTerms, amount: int) -> int:
    """The PG's fee on a payment of ``amount`` minor units (see the module's rule)."""
    parse_amount(amount, allow_zero=True)
    return max(terms.min_fee, round_half_up_bp(amount, terms.commission_bp) + terms.fixed_fee)


def terms_of(row: RowMapping) -> MethodTerms:
    return MethodTerms(
        enabled=bool(row["enabled"]),
        commission_bp=int(row["commission_bp"]),
        fixed_fee=int(row["fixed_fee"]),
        min_fee=int(row["min_fee"]),
    )


def method_terms(conn: Connection, contract_id: UUID) -> dict[str, MethodTerms]:
    """Every method configured on a contract (enabled or not), by method."""
    rows = conn.execute(
        select(pg_contract_methods)
        .where(pg_contract_methods.c.contract_id == contract_id)
        .order_by(pg_contract_methods.c.method)
    ).mappings()
    return {row["method"]: terms_of(row) for row in rows}


def find_terms(conn: Connection, contract_id: UUID, method: str) -> MethodTerms | None:
    """The contract's terms for ``method``, or None when the method is not configured."""
    row = (
        conn.execute(
            select(pg_contract_methods).where(
                pg_contract_methods.c.contract_id == contract_id,
                pg_contract_methods.c.method == method,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else terms_of(row)


def expected_fee(conn: Connection, contract_id: UUID, method: str, amount: int) -> int:
    """The fee the contract's terms give for ``amount`` by ``method`` (enabled or not).

    A method the contract has no terms for is ``method_not_offered``.
    """
    terms = find_terms(conn, contract_id, method)
    if terms is None:
        raise Conflict(
            "method_not_offered",
            f"The PG contract has no terms for {method!r}.",
            {"method": method},
        )
    return commission(terms, amount)
