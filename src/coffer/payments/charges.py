"""Charge orders: creating one, reading them, and moving one along the state machine.

Every move goes through :func:`move`, a guarded ``UPDATE … WHERE status = <the status we read>``
under the charge's row lock, and writes a timeline row with the state before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.db.outbox import emit_event
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.ledger.model import WalletRef
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.states import COUNTED_STATUSES, ChargeStatus, may_move
from coffer.payments.tables import charge_events, charges
from coffer.tenancy import service as tenancy

#: How long a member has on the PG's checkout page; a return after it is refused.
CHECKOUT_WINDOW = timedelta(minutes=10)
#: How long a confirm may be in flight before the janitor asks the PG itself.
CONFIRM_GRACE = timedelta(minutes=2)
RETURN_URL_MAX = 2000


@dataclass(frozen=True, slots=True)
class Charge:
    id: UUID
    service_id: UUID
    member_id: UUID
    contract_id: UUID
    pg: str
    order_id: str
    method: str
    amount: int
    currency: str
    status: ChargeStatus
    payment_key: str | None
    return_url: str
    checkout_expires_at: datetime
    pg_checkout_url: str | None
    journal_id: UUID | None
    lot_id: UUID | None
    approved_at: datetime | None
    refunded: int
    failure_code: str | None
    failure_message: str | None
    va_bank: str | None
    va_account: str | None
    va_due_at: datetime | None
    next_check_at: datetime | None
    checks: int
    attention: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> Charge:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    source: str
    event: str
    before: str | None
    after: str | None
    detail: dict[str, Any] | None


def check_method(method: object) -> str:
    if method not in PAYMENT_METHODS:
        raise InvalidInput("invalid_method", f"method must be one of {', '.join(PAYMENT_METHODS)}.")
    assert isinstance(method, str)
    return method


def check_return_url(url: object) -> str:
    """An absolute http(s) URL the member's browser is sent back to after paying."""
    if not isinstance(url, str) or not 0 < len(url) <= RETURN_URL_MAX:
        raise InvalidInput("invalid_return_url", "return_url must be an http(s) URL.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in url for c in " \r\n"):
        raise InvalidInput("invalid_return_url", "return_url must be an absolute http(s) URL.")
    return url


def create_charge(
    conn: Connection,
    wallet: WalletRef,
    *,
    contract_id: UUID,
    pg: str,
    method: str,
    amount: int,
    return_url: str,
    now: datetime,
) -> Charge:
    """A new charge in ``created``; the janitor expires it if the member never comes back."""
    charge_id = uuid7()
    conn.execute(
        insert(charges).values(
            id=charge_id,
            service_id=wallet.service_id,
            member_id=wallet.member_id,
            contract_id=contract_id,
            pg=pg,
            order_id=f"ch_{charge_id.hex}",
            method=method,
            amount=amount,
            currency=wallet.currency,
            status="created",
            return_url=return_url,
            checkout_expires_at=now + CHECKOUT_WINDOW,
            refunded=0,
            next_check_at=now + CHECKOUT_WINDOW + CONFIRM_GRACE,
            checks=0,
            created_at=now,
            updated_at=now,
        )
    )
    record(conn, charge_id, now, "api", "created", None, "created", {"amount": amount})
    return get_charge(conn, wallet.service_id, charge_id)


def _select_one(conn: Connection, *where: Any, lock: bool = False) -> Charge | None:
    query = select(charges).where(*where)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return Charge.of(row) if row is not None else None


def keep_checkout_url(conn: Connection, charge_id: UUID, url: str) -> str:
    """Keep the first PG checkout made for the charge; returns the one kept."""
    conn.execute(
        update(charges)
        .where(charges.c.id == charge_id, charges.c.pg_checkout_url.is_(None))
        .values(pg_checkout_url=url)
    )
    kept = conn.execute(select(charges.c.pg_checkout_url).where(charges.c.id == charge_id))
    return str(kept.scalar_one())


def get_charge(conn: Connection, service_id: UUID, charge_id: UUID) -> Charge:
    found = _select_one(conn, charges.c.id == charge_id, charges.c.service_id == service_id)
    if found is None:
        raise NotFound("charge_not_found", "No such charge in this service.")
    return found


def charge_by_id(conn: Connection, charge_id: UUID, *, lock: bool = False) -> Charge:
    """A charge by id alone (the PG's return and the janitor know no service)."""
    found = _select_one(conn, charges.c.id == charge_id, lock=lock)
    if found is None:
        raise NotFound("charge_not_found", "No such charge.")
    return found


def charge_for_payment(
    conn: Connection, contract_id: UUID, order_id: str | None, payment_key: str | None
) -> Charge | None:
    """The charge a PG message is about, by order id or else by payment key."""
    if order_id:
        found = _select_one(conn, charges.c.order_id == order_id)
        if found is not None and found.contract_id == contract_id:
            return found
    if payment_key:
        return _select_one(
            conn, charges.c.contract_id == contract_id, charges.c.payment_key == payment_key
        )
    return None


def move(
    conn: Connection,
    charge: Charge,
    target: ChargeStatus,
    *,
    now: datetime,
    source: str,
    event: str | None = None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> Charge:
    """Move ``charge`` (read under its lock) to ``target``, or raise ``illegal_transition``."""
    if not may_move(charge.status, target):
        raise Conflict(
            "illegal_transition", f"A charge cannot go from {charge.status} to {target}."
        )
    done = conn.execute(
        update(charges)
        .where(charges.c.id == charge.id, charges.c.status == charge.status)
        .values(status=target, updated_at=now, **values)
    )
    if done.rowcount != 1:  # the row lock makes this unreachable; refuse rather than guess
        raise Conflict("charge_changed", "The charge changed under us; try again.")
    record(conn, charge.id, now, source, event or target, charge.status, target, detail)
    return charge_by_id(conn, charge.id)


def annotate(
    conn: Connection,
    charge: Charge,
    *,
    now: datetime,
    source: str,
    event: str,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> Charge:
    """Change a charge's bookkeeping columns without moving it, with a timeline row."""
    if values:
        conn.execute(
            update(charges).where(charges.c.id == charge.id).values(updated_at=now, **values)
        )
    record(conn, charge.id, now, source, event, charge.status, charge.status, detail)
    return charge_by_id(conn, charge.id)


def record(
    conn: Connection,
    charge_id: UUID,
    now: datetime,
    source: str,
    event: str,
    before: str | None,
    after: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(charge_events).values(
            id=uuid7(),
            charge_id=charge_id,
            at=now,
            source=source,
            event=event,
            before=before,
            after=after,
            detail=detail,
        )
    )


def timeline(conn: Connection, charge_id: UUID) -> list[TimelineEntry]:
    rows = conn.execute(
        select(charge_events)
        .where(charge_events.c.charge_id == charge_id)
        .order_by(charge_events.c.id)
    ).mappings()
    return [
        TimelineEntry(r["at"], r["source"], r["event"], r["before"], r["after"], r["detail"])
        for r in rows
    ]


def member_charged(
    conn: Connection, member_id: UUID, method: str, now: datetime, timezone: str
) -> tuple[int, int]:
    """What the member has charged with ``method`` today and this month (service calendar)."""
    local = now.astimezone(ZoneInfo(timezone))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    counted = (
        charges.c.member_id == member_id,
        charges.c.method == method,
        charges.c.status.in_(sorted(COUNTED_STATUSES)),
        charges.c.created_at >= month_start,
    )
    total = func.coalesce(func.sum(charges.c.amount - charges.c.refunded), 0)
    month = conn.execute(select(total).where(*counted)).scalar_one()
    today = conn.execute(select(total).where(*counted, charges.c.created_at >= day_start))
    return int(today.scalar_one()), int(month)


def list_charges(
    conn: Connection,
    service_id: UUID,
    *,
    member_id: UUID | None = None,
    status: str | None = None,
    attention_only: bool = False,
    before: UUID | None = None,
    limit: int = 50,
) -> list[Charge]:
    """Newest first; ``before`` is the cursor (the last id of the previous page)."""
    query = select(charges).where(charges.c.service_id == service_id)
    if member_id is not None:
        query = query.where(charges.c.member_id == member_id)
    if status is not None:
        query = query.where(charges.c.status == status)
    if attention_only:
        query = query.where(charges.c.attention.isnot(None))
    if before is not None:
        query = query.where(charges.c.id < before)
    rows = conn.execute(query.order_by(charges.c.id.desc()).limit(limit)).mappings()
    return [Charge.of(row) for row in rows]


def emit_charge_event(
    conn: Connection,
    charge: Charge,
    event_type: str,
    now: datetime,
    *,
    external_id: str | None = None,
) -> None:
    """Queue a ``charge.*`` webhook to the service, in the caller's transaction.

    ``external_id``: the member's, when the caller already has it (else it is read).
    """
    if external_id is None:
        external_id = tenancy.get_member_by_id(
            conn, charge.service_id, charge.member_id
        ).external_id
    data = {
        "charge_id": str(charge.id),
        "member_id": str(charge.member_id),
        "external_id": external_id,
        "order_id": charge.order_id,
        "amount": charge.amount,
        "currency": charge.currency,
        "method": charge.method,
        "status": charge.status,
        "refunded": charge.refunded,
    }
    emit_event(conn, charge.service_id, event_type, data, now=now)
