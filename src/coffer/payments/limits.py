"""Charge limits per service and payment method: amount range and step, per-member caps.

All amounts are minor units of the service's currency. ``amount_step`` counts from zero: with a
step of 1,000 a charge must be a multiple of 1,000. ``per_member_day`` and ``per_member_month``
cap the sum a member charges by the method in a day or calendar month of the service's time zone
(carrier billing has monthly caps); the caller sums what counts toward them (e.g. approved and
in-flight charges) and passes it to :func:`check_charge`. Without a row there are no limits but
a positive amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.kernel.money import MAX_AMOUNT, parse_amount
from coffer.payments.contracts import validate_method
from coffer.payments.pg_tables import charge_limits
from coffer.tenancy import service as tenancy

_FIELDS = ("min_amount", "max_amount", "amount_step", "per_member_day", "per_member_month")


@dataclass(frozen=True, slots=True)
class ChargeLimits:
    min_amount: int = 1
    max_amount: int | None = None
    amount_step: int = 1
    per_member_day: int | None = None
    per_member_month: int | None = None


def _positive(value: object, name: str, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT:
        raise InvalidInput(
            "invalid_charge_limits",
            f"{name} must be a whole number of minor units from 1 to {MAX_AMOUNT}.",
            {"field": name},
        )


def validate_limits(limits: ChargeLimits) -> ChargeLimits:
    """``limits`` if they make sense; ``invalid_charge_limits`` (``details.field``) otherwise."""
    for name in _FIELDS:
        _positive(getattr(limits, name), name, optional=name not in ("min_amount", "amount_step"))
    if limits.max_amount is not None and limits.max_amount < limits.min_amount:
        raise InvalidInput(
            "invalid_charge_limits",
            "max_amount must not be below min_amount.",
            {"field": "max_amount"},
        )
    return limits


def get_limits(conn: Connection, service_id: UUID, method: str) -> ChargeLimits | None:
    row = (
        conn.execute(
            select(*(charge_limits.c[name] for name in _FIELDS)).where(
                charge_limits.c.service_id == service_id, charge_limits.c.method == method
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else ChargeLimits(**{name: row[name] for name in _FIELDS})


def all_limits(conn: Connection, service_id: UUID) -> dict[str, ChargeLimits]:
    """Every method's limits of the service, by method (methods without limits are absent)."""
    rows = conn.execute(
        select(charge_limits.c.method, *(charge_limits.c[name] for name in _FIELDS)).where(
            charge_limits.c.service_id == service_id
        )
    ).mappings()
    return {row["method"]: ChargeLimits(**{name: row[name] for name in _FIELDS}) for row in rows}


def set_limits(
    conn: Connection, service_id: UUID, method: str, limits: ChargeLimits, *, now: datetime
) -> ChargeLimits | None:
    """Store the method's limits; returns the ones they replace (None if there were none).

    ``charge_limits_unchanged`` when they are the same.
    """
    validate_method(method)
    validate_limits(limits)
    tenancy.get_service(conn, service_id)
    before = get_limits(conn, service_id, method)
    if before == limits:
        raise Conflict("charge_limits_unchanged", "The method already has these limits.")
    values = {name: getattr(limits, name) for name in _FIELDS} | {"updated_at": now}
    if not insert_if_absent(
        conn,
        charge_limits,
        {"service_id": service_id, "method": method, **values},
        conflict_on=["service_id", "method"],
    ):
        conn.execute(
            update(charge_limits)
            .where(charge_limits.c.service_id == service_id, charge_limits.c.method == method)
            .values(**values)
        )
    return before


def clear_limits(conn: Connection, service_id: UUID, method: str) -> ChargeLimits:
    """Remove the method's limits; returns them (``charge_limits_not_set`` if there were none)."""
    validate_method(method)
    before = get_limits(conn, service_id, method)
    if before is None:
        raise Conflict("charge_limits_not_set", "The method has no limits to remove.")
    conn.execute(
        delete(charge_limits).where(
            charge_limits.c.service_id == service_id, charge_limits.c.method == method
        )
    )
    return before


def check_charge(
    limits: ChargeLimits | None, amount: int, *, member_today: int, member_this_month: int
) -> None:
    """Refuse a charge of ``amount`` the limits do not allow (nothing happens otherwise).

    ``member_today``/``member_this_month``: what the member already charged by the method today
    and this month. Checked in this order: ``invalid_amount``, ``amount_below_minimum``,
    ``amount_above_maximum``, ``invalid_amount_step`` (422), ``daily_charge_limit``,
    ``monthly_charge_limit`` (409, with ``details.remaining``).
    """
    parse_amount(amount)
    if limits is None:
        return
    if amount < limits.min_amount:
        raise InvalidInput(
            "amount_below_minimum",
            f"The smallest charge by this method is {limits.min_amount}.",
            {"min_amount": limits.min_amount},
        )
    if limits.max_amount is not None and amount > limits.max_amount:
        raise InvalidInput(
            "amount_above_maximum",
            f"The largest charge by this method is {limits.max_amount}.",
            {"max_amount": limits.max_amount},
        )
    if amount % limits.amount_step:
        raise InvalidInput(
            "invalid_amount_step",
            f"The amount must be a multiple of {limits.amount_step}.",
            {"amount_step": limits.amount_step},
        )
    caps = (
        ("daily_charge_limit", "day", limits.per_member_day, member_today),
        ("monthly_charge_limit", "month", limits.per_member_month, member_this_month),
    )
    for code, period, cap, used in caps:
        if cap is not None and used + amount > cap:
            remaining = max(cap - used, 0)
            raise Conflict(
                code,
                f"The member may charge {remaining} more by this method this {period}.",
                {"limit": cap, "used": used, "remaining": remaining},
            )
