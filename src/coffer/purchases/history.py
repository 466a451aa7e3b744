"""Past purchases as the what-if simulation replays them (read only; docs/simulation.md).

:func:`purchases_between` answers the service's purchases made in ``[since, until)``, oldest
first, each with its product lines that are not cancelled (rate-card time and cancelled lines
are left out; a purchase left with no line is left out). Each carries:

- the buyer's grade *now* (grades have a history, but a simulation asks "what would this rule
  do to the members we have");
- ``first_purchase`` as it was when it was made: the buyer had no earlier purchase that still
  counted then (a purchase counts until it is cancelled whole; one cancelled later still
  counted at the time).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.catalog.tables import products
from coffer.purchases.tables import purchase_lines, purchases
from coffer.tenancy.tables import members

#: At most this many purchases are read for one simulation.
MAX_PURCHASES = 200_000


@dataclass(frozen=True, slots=True)
class PastLine:
    line_id: UUID
    product_id: UUID
    sku: str
    quantity: int
    #: The list price per unit when it was bought.
    unit_price: int
    #: What the member paid for the line (list amount less the discount then).
    amount: int
    status: str


@dataclass(frozen=True, slots=True)
class PastPurchase:
    id: UUID
    member_id: UUID
    external_id: str
    #: The member's grade now.
    grade: str
    created_at: datetime
    status: str
    #: The member had no earlier purchase that counted at the time.
    first_purchase: bool
    lines: tuple[PastLine, ...]


def purchases_between(
    conn: Connection, service_id: UUID, since: datetime, until: datetime
) -> list[PastPurchase]:
    """The service's purchases of ``[since, until)`` with their live product lines, oldest
    first (by time, then id)."""
    head = conn.execute(
        select(
            purchases.c.id, purchases.c.member_id, purchases.c.created_at, purchases.c.status,
            members.c.external_id, members.c.grade,
        )
        .join(members, members.c.id == purchases.c.member_id)
        .where(
            purchases.c.service_id == service_id,
            purchases.c.created_at >= since,
            purchases.c.created_at < until,
            purchases.c.status != "cancelled",
        )
        .order_by(purchases.c.created_at, purchases.c.id)
        .limit(MAX_PURCHASES)
    ).all()  # fmt: skip
    if not head:
        return []
    lines = _lines(conn, service_id, since, until)
    earlier = _earlier(conn, service_id, {row.member_id for row in head}, until)
    found: list[PastPurchase] = []
    for row in head:
        mine = tuple(lines.get(row.id, ()))
        if not mine:
            continue
        first = not any(
            (at, pid) < (row.created_at, row.id) and (gone is None or gone > row.created_at)
            for at, pid, gone in earlier.get(row.member_id, ())
        )
        found.append(
            PastPurchase(
                id=row.id, member_id=row.member_id, external_id=row.external_id,
                grade=row.grade, created_at=row.created_at, status=row.status,
                first_purchase=first, lines=mine,
            )
        )  # fmt: skip
    return found


def _lines(
    conn: Connection, service_id: UUID, since: datetime, until: datetime
) -> dict[UUID, list[PastLine]]:
    rows = conn.execute(
        select(
            purchase_lines.c.id, purchase_lines.c.purchase_id, purchase_lines.c.product_id,
            products.c.sku, purchase_lines.c.quantity, purchase_lines.c.unit_price,
            purchase_lines.c.amount, purchase_lines.c.status,
        )
        .join(purchases, purchases.c.id == purchase_lines.c.purchase_id)
        .join(products, products.c.id == purchase_lines.c.product_id)
        .where(
            purchases.c.service_id == service_id,
            purchases.c.created_at >= since,
            purchases.c.created_at < until,
            purchase_lines.c.kind == "product",
            purchase_lines.c.status == "active",
        )
        .order_by(purchase_lines.c.purchase_id, purchase_lines.c.id)
    )  # fmt: skip
    found: dict[UUID, list[PastLine]] = defaultdict(list)
    for r in rows:
        found[r.purchase_id].append(
            PastLine(r.id, r.product_id, r.sku, r.quantity, r.unit_price, r.amount, r.status)
        )
    return found


def _earlier(
    conn: Connection, service_id: UUID, member_ids: set[UUID], until: datetime
) -> dict[UUID, list[tuple[datetime, UUID, datetime | None]]]:
    """Each member's purchases before ``until``: (made at, id, cancelled whole at or None)."""
    gone = (
        select(func.max(purchase_lines.c.cancelled_at))
        .where(purchase_lines.c.purchase_id == purchases.c.id)
        .scalar_subquery()
    )
    found: dict[UUID, list[tuple[datetime, UUID, datetime | None]]] = defaultdict(list)
    ordered = sorted(member_ids)
    for start in range(0, len(ordered), 500):
        rows = conn.execute(
            select(purchases.c.member_id, purchases.c.created_at, purchases.c.id,
                   purchases.c.status, gone.label("gone"))
            .where(
                purchases.c.service_id == service_id,
                purchases.c.member_id.in_(ordered[start : start + 500]),
                purchases.c.created_at < until,
            )
        )  # fmt: skip
        for r in rows:
            ended = r.gone if r.status == "cancelled" else None
            found[r.member_id].append((r.created_at, r.id, ended))
    return found
