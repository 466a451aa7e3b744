"""Granting what a purchase bought, asking whether a purchase line was used, and revoking it.

Every function runs in the caller's transaction. The ones that write or decide on a member's
entitlements take that member's wallet lock first (``ledger.store.lock_wallet``), the lock every
cash operation and usage report of the member takes, so that a grant, a usage report and a
cancellation of one member never interleave.

Kinds (``docs/usage.md``):

- ``item`` → one entitlement with ``granted = remaining = quantity`` (consumable or durable);
- ``period_pass`` → ``quantity`` passes of ``pass_days`` days (24 h each), the first starting
  where the member's latest pass of the product ends (or now), each next one after it;
- ``quantity_pass`` → ``units * quantity`` units in one entitlement;
- ``mixed`` → one pass of ``pass_days * quantity`` days, placed like a period pass, including
  ``units * quantity`` units;
- ``time_coupon`` → ``minutes * quantity`` minutes of play time (kind ``time``);
- ``metered`` and ``package`` are not granted (``product_not_grantable``).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog.model import Product
from coffer.entitlements.model import (
    PASS_KINDS,
    Entitlement,
    MemberEntitlements,
    member_view,
    next_pass_start,
)
from coffer.entitlements.tables import entitlements
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.ledger import store as ledger_store

#: Most of one product granted at once (a purchase line's quantity).
MAX_GRANT_QUANTITY = 10_000
#: Most minutes granted at once (about 19 years of play).
MAX_GRANT_MINUTES = 10_000_000


_FIELDS = tuple(field.name for field in fields(Entitlement))


def entitlement_of(row: RowMapping) -> Entitlement:
    return Entitlement(**{name: row[name] for name in _FIELDS})


_member_rows = (
    select(entitlements)
    .where(
        entitlements.c.member_id == bindparam("member"),
        entitlements.c.status == "active",
        (entitlements.c.ends_at.is_(None)) | (entitlements.c.ends_at > bindparam("since")),
    )
    .order_by(entitlements.c.created_at, entitlements.c.id)
)


def live_entitlements(conn: Connection, member_id: UUID, since: datetime) -> list[Entitlement]:
    """The member's active entitlements that had not ended by ``since``, oldest first."""
    rows = conn.execute(_member_rows, {"member": member_id, "since": since}).mappings()
    return [entitlement_of(row) for row in rows]


def get_entitlement(conn: Connection, member_id: UUID, entitlement_id: UUID) -> Entitlement:
    """One of the member's entitlements (``entitlement_not_found`` for anyone else's)."""
    row = (
        conn.execute(
            select(entitlements).where(
                entitlements.c.id == entitlement_id, entitlements.c.member_id == member_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("entitlement_not_found", "No such entitlement for this member.")
    return entitlement_of(row)


def draw(conn: Connection, entitlement: Entitlement, units: int, now: datetime) -> None:
    """Take ``units`` off an entitlement; at zero it is ``exhausted`` (a mixed pass stays
    ``active``: its time goes on, with overage). A guard that refuses is a bug: it raises."""
    keeps_status = entitlement.kind == "mixed"
    left = entitlements.c.remaining - units
    done = conn.execute(
        update(entitlements)
        .where(
            entitlements.c.id == entitlement.id,
            entitlements.c.status == "active",
            entitlements.c.remaining >= units,
        )
        .values(
            remaining=left,
            status=entitlements.c.status
            if keeps_status
            else _exhausted_when_zero(entitlements.c.remaining, units),
            updated_at=now,
        )
    )
    if done.rowcount != 1:
        raise Conflict("entitlement_changed", "The entitlement changed meanwhile; retry.")


def _exhausted_when_zero(remaining: Any, units: int) -> Any:
    return case((remaining - units == 0, "exhausted"), else_="active")


def _quantity(value: object, limit: int, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInput(f"invalid_{field}", f"{field} must be an integer from 1 to {limit}.")
    return value


def _insert(
    conn: Connection,
    *,
    service_id: UUID,
    member_id: UUID,
    product_id: UUID | None,
    kind: str,
    amount: int | None,
    unit_name: str | None,
    starts_at: datetime,
    ends_at: datetime | None,
    purchase_line_id: UUID | None,
    now: datetime,
) -> UUID:
    entitlement_id = uuid7()
    conn.execute(
        entitlements.insert().values(
            id=entitlement_id,
            service_id=service_id,
            member_id=member_id,
            product_id=product_id,
            kind=kind,
            status="active",
            granted=amount,
            remaining=amount,
            unit_name=unit_name,
            starts_at=starts_at,
            ends_at=ends_at,
            purchase_line_id=purchase_line_id,
            created_at=now,
            updated_at=now,
        )
    )
    return entitlement_id


def grant_product(
    conn: Connection,
    *,
    service_id: UUID,
    member_id: UUID,
    product: Product,
    quantity: int,
    purchase_line_id: UUID | None,
    now: datetime,
) -> list[UUID]:
    """Grant ``quantity`` of ``product`` to a member; returns the new entitlements' ids."""
    if product.service_id != service_id:
        raise NotFound("product_not_found", "No such product in this service.")
    quantity = _quantity(quantity, MAX_GRANT_QUANTITY)
    common: dict[str, Any] = {
        "service_id": service_id,
        "member_id": member_id,
        "product_id": product.id,
        "purchase_line_id": purchase_line_id,
        "now": now,
    }
    ledger_store.lock_wallet(conn, member_id)
    kind = product.kind
    if kind == "item":
        return [
            _insert(conn, kind="item", amount=quantity, unit_name=None, starts_at=now,
                    ends_at=None, **common)
        ]  # fmt: skip
    if kind == "quantity_pass":
        assert product.units is not None
        return [
            _insert(conn, kind="quantity_pass", amount=product.units * quantity,
                    unit_name=product.unit_name, starts_at=now, ends_at=None, **common)
        ]  # fmt: skip
    if kind == "time_coupon":
        assert product.minutes is not None
        return [
            _insert(conn, kind="time", amount=product.minutes * quantity, unit_name="minute",
                    starts_at=now, ends_at=None, **common)
        ]  # fmt: skip
    if kind in PASS_KINDS:
        assert product.pass_days is not None
        start = next_pass_start(live_entitlements(conn, member_id, now), product.id, now)
        days = timedelta(days=product.pass_days)
        if kind == "mixed":
            assert product.units is not None
            return [
                _insert(conn, kind="mixed", amount=product.units * quantity,
                        unit_name=product.unit_name, starts_at=start,
                        ends_at=start + days * quantity, **common)
            ]  # fmt: skip
        granted: list[UUID] = []
        for index in range(quantity):
            begins = start + days * index
            granted.append(
                _insert(conn, kind="period_pass", amount=None, unit_name=None,
                        starts_at=begins, ends_at=begins + days, **common)
            )  # fmt: skip
        return granted
    raise InvalidInput(
        "product_not_grantable",
        f"A {kind} product is not granted as such"
        + (": grant its components." if kind == "package" else ": it is charged as used."),
    )


def grant_minutes(
    conn: Connection,
    *,
    service_id: UUID,
    member_id: UUID,
    minutes: int,
    purchase_line_id: UUID | None,
    now: datetime,
) -> UUID:
    """Add ``minutes`` of play time (a time entitlement without a product, e.g. from the rate
    card or an operator)."""
    minutes = _quantity(minutes, MAX_GRANT_MINUTES, "minutes")
    ledger_store.lock_wallet(conn, member_id)
    return _insert(
        conn, service_id=service_id, member_id=member_id, product_id=None, kind="time",
        amount=minutes, unit_name="minute", starts_at=now, ends_at=None,
        purchase_line_id=purchase_line_id, now=now,
    )  # fmt: skip


def _line(conn: Connection, purchase_line_id: UUID) -> list[Entitlement]:
    """The line's entitlements, after locking the wallets of the members who hold them."""
    members = sorted(
        set(
            conn.execute(
                select(entitlements.c.member_id).where(
                    entitlements.c.purchase_line_id == purchase_line_id
                )
            ).scalars()
        )
    )
    for member_id in members:
        ledger_store.lock_wallet(conn, member_id)
    rows = conn.execute(
        select(entitlements)
        .where(entitlements.c.purchase_line_id == purchase_line_id)
        .order_by(entitlements.c.id)
    ).mappings()
    return [entitlement_of(row) for row in rows]


def line_entitlements(conn: Connection, purchase_line_id: UUID) -> list[Entitlement]:
    """Every entitlement a purchase line granted (revoked ones too), by id."""
    rows = conn.execute(
        select(entitlements)
        .where(entitlements.c.purchase_line_id == purchase_line_id)
        .order_by(entitlements.c.id)
    ).mappings()
    return [entitlement_of(row) for row in rows]


def line_in_use(conn: Connection, purchase_line_id: UUID, now: datetime) -> bool:
    """Whether any (unrevoked) entitlement of the line was used: units or minutes drawn, an
    item consumed, or a pass whose time has begun (``starts_at < now``).

    Locks the holders' wallets, so that no usage report slips in between this answer and a
    :func:`revoke_line` in the same transaction.
    """
    return any(entry.in_use(now) for entry in _line(conn, purchase_line_id))


def revoke_line(conn: Connection, purchase_line_id: UUID, now: datetime) -> int:
    """Mark the line's entitlements ``revoked``; returns how many were not revoked before.

    A revoked pass keeps its dates: passes bought after it do not move up into its days.
    """
    _line(conn, purchase_line_id)
    done = conn.execute(
        update(entitlements)
        .where(
            entitlements.c.purchase_line_id == purchase_line_id,
            entitlements.c.status != "revoked",
        )
        .values(status="revoked", updated_at=now)
    )
    return int(done.rowcount)


def _listed(conn: Connection, member_id: UUID, ids: list[UUID]) -> list[Entitlement]:
    """The member's entitlements among ``ids``, after locking the member's wallet."""
    ledger_store.lock_wallet(conn, member_id)
    rows = conn.execute(
        select(entitlements).where(
            entitlements.c.member_id == member_id, entitlements.c.id.in_(ids)
        )
    ).mappings()
    return [entitlement_of(row) for row in rows]


def listed_in_use(conn: Connection, member_id: UUID, ids: list[UUID], now: datetime) -> bool:
    """As :func:`line_in_use`, for entitlements granted without a purchase line (a coupon)."""
    return any(entry.in_use(now) for entry in _listed(conn, member_id, ids))


def revoke_listed(conn: Connection, member_id: UUID, ids: list[UUID], now: datetime) -> int:
    """As :func:`revoke_line`, for entitlements granted without a purchase line (a coupon)."""
    _listed(conn, member_id, ids)
    done = conn.execute(
        update(entitlements)
        .where(
            entitlements.c.member_id == member_id,
            entitlements.c.id.in_(ids),
            entitlements.c.status != "revoked",
        )
        .values(status="revoked", updated_at=now)
    )
    return int(done.rowcount)


def member_entitlements(conn: Connection, member_id: UUID, now: datetime) -> MemberEntitlements:
    """Items with something left, current and future passes, units per quantity product and
    the time balance in minutes."""
    return member_view(live_entitlements(conn, member_id, now), now)
