"""The rate card of time coupons: how much cash buys one minute of play time, per service.

Only the rate is stored here; converting an amount of cash into minutes is the purchase's
business. A service without a rate sells play time only as fixed ``time_coupon`` products.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from coffer.catalog import validation as check
from coffer.catalog.tables import time_rates
from coffer.db.upsert import insert_if_absent
from coffer.kernel.money import MAX_AMOUNT


def check_rate(value: object) -> int:
    """Cash (minor units) per minute: an integer from 1 to 2**53."""
    return check.integer(value, "invalid_rate", "cash_per_minute", 1, MAX_AMOUNT)


def get_rate(conn: Connection, service_id: UUID) -> int | None:
    """Cash per minute of play time, or None when the service has no rate card."""
    rate = conn.execute(
        select(time_rates.c.cash_per_minute).where(time_rates.c.service_id == service_id)
    ).scalar_one_or_none()
    return None if rate is None else int(rate)


def set_rate(conn: Connection, service_id: UUID, cash_per_minute: int, now: datetime) -> None:
    """Set (or replace) the service's rate; 422 ``invalid_rate``."""
    rate = check_rate(cash_per_minute)
    values = {"cash_per_minute": rate, "updated_at": now}
    if not insert_if_absent(
        conn, time_rates, {"service_id": service_id, **values}, conflict_on=["service_id"]
    ):
        conn.execute(update(time_rates).where(time_rates.c.service_id == service_id).values(values))
