"""Products: create and edit every kind, put on and off sale, and read them.

The rules of each kind's fields are in :mod:`coffer.catalog.product_fields`. A product's life:
``draft`` → ``on_sale`` ⇄ ``off_sale`` (never back to draft: it may have been sold). Whether a
product can be bought *now* also depends on its sale window (:func:`.model.is_on_sale`).
Every function validates everything before it writes, so a refused call changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog import product_fields
from coffer.catalog.model import Product
from coffer.catalog.providers import active_provider
from coffer.catalog.tables import package_components as components_table
from coffer.catalog.tables import product_categories, products
from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7

#: The status changes allowed: from → to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"on_sale"}),
    "on_sale": frozenset({"off_sale"}),
    "off_sale": frozenset({"on_sale"}),
}

_PRODUCT_COLUMNS = tuple(field.name for field in fields(Product))


def product_of(row: RowMapping) -> Product:
    """A :class:`Product` from a row of ``products``."""
    return Product(**{name: row[name] for name in _PRODUCT_COLUMNS})


def _not_found() -> NotFound:
    return NotFound("product_not_found", "No such product in this service.")


# --- reads ----------------------------------------------------------------------------------


def _one(conn: Connection, query: Select[Any]) -> Product:
    row = conn.execute(query).mappings().first()
    if row is None:
        raise _not_found()
    return product_of(row)


def get_product(conn: Connection, service_id: UUID, product_id: UUID) -> Product:
    """A product of this service (another service's is as unknown as a missing one)."""
    return _one(
        conn,
        select(products).where(products.c.id == product_id, products.c.service_id == service_id),
    )


def product_by_sku(conn: Connection, service_id: UUID, sku: str) -> Product:
    return _one(
        conn, select(products).where(products.c.sku == sku, products.c.service_id == service_id)
    )


def list_products(
    conn: Connection,
    service_id: UUID,
    *,
    kind: str | None = None,
    status: str | None = None,
    category_id: UUID | None = None,
    after: UUID | None = None,
    limit: int | None = None,
) -> list[Product]:
    """The service's products, oldest first, filtered; ``after`` a product id to page on."""
    query = select(products).where(products.c.service_id == service_id)
    if kind is not None:
        query = query.where(products.c.kind == product_fields.kind(kind))
    if status is not None:
        query = query.where(products.c.status == product_fields.status(status))
    if category_id is not None:
        query = query.join(
            product_categories, product_categories.c.product_id == products.c.id
        ).where(product_categories.c.category_id == category_id)
    if after is not None:
        query = query.where(products.c.id > after)
    query = query.order_by(products.c.id).limit(limit)
    return [product_of(row) for row in conn.execute(query).mappings()]


def _on_sale(service_id: UUID, now: datetime) -> Select[Any]:
    """Products on sale at ``now`` (the SQL form of :func:`coffer.catalog.model.is_on_sale`)."""
    return select(products).where(
        products.c.service_id == service_id,
        products.c.status == "on_sale",
        or_(products.c.sale_starts_at.is_(None), products.c.sale_starts_at <= now),
        or_(products.c.sale_ends_at.is_(None), products.c.sale_ends_at > now),
    )


def products_on_sale(
    conn: Connection, service_id: UUID, now: datetime, *, category_id: UUID | None = None
) -> list[Product]:
    """What can be bought at ``now``: by sku, or in a category's order when one is given."""
    query = _on_sale(service_id, now)
    if category_id is None:
        query = query.order_by(products.c.sku)
    else:
        query = (
            query.join(product_categories, product_categories.c.product_id == products.c.id)
            .where(product_categories.c.category_id == category_id)
            .order_by(product_categories.c.position, products.c.sku)
        )
    return [product_of(row) for row in conn.execute(query).mappings()]


def on_sale_by_category(
    conn: Connection, service_id: UUID, now: datetime
) -> dict[UUID, list[Product]]:
    """Every category's products on sale at ``now``, in the category's order (one query)."""
    query = (
        _on_sale(service_id, now)
        .add_columns(product_categories.c.category_id.label("placed_in"))
        .join(product_categories, product_categories.c.product_id == products.c.id)
        .order_by(product_categories.c.category_id, product_categories.c.position, products.c.sku)
    )
    placed: dict[UUID, list[Product]] = {}
    for row in conn.execute(query).mappings():
        placed.setdefault(row["placed_in"], []).append(product_of(row))
    return placed


def package_components(conn: Connection, package_id: UUID) -> list[tuple[Product, int]]:
    """A package's (component, quantity) pairs, by component sku."""
    query = (
        select(products, components_table.c.quantity)
        .join(components_table, components_table.c.component_id == products.c.id)
        .where(components_table.c.package_id == package_id)
        .order_by(products.c.sku)
    )
    return [(product_of(row), row["quantity"]) for row in conn.execute(query).mappings()]


# --- writes ---------------------------------------------------------------------------------


def create_product(
    conn: Connection,
    service_id: UUID,
    spec: Mapping[str, object],
    *,
    now: datetime,
    status: str = "draft",
) -> Product:
    """A new product from ``spec`` (the fields of :data:`product_fields.PRODUCT_FIELDS`).

    404 ``cp_not_found``, 409 ``cp_inactive``, 409 ``sku_taken``; ``status`` other than
    ``draft`` puts it on sale at once (as :func:`set_product_status` would).
    """
    values = product_fields.validate_product(spec)
    wanted = product_fields.status(status)
    active_provider(conn, service_id, values["cp_id"])
    product_id = uuid7()
    row = {
        **values,
        "id": product_id,
        "service_id": service_id,
        "status": "draft",
        "created_at": now,
        "updated_at": now,
    }
    if not insert_if_absent(conn, products, row, conflict_on=["service_id", "sku"]):
        raise _sku_taken(values["sku"])
    if wanted != "draft":
        return set_product_status(conn, service_id, product_id, wanted, now=now)
    return get_product(conn, service_id, product_id)


def update_product(
    conn: Connection,
    service_id: UUID,
    product_id: UUID,
    changes: Mapping[str, object],
    *,
    now: datetime,
) -> Product:
    """Change some fields; the result is checked as a whole, like a new product.

    A null clears an optional field (the sale window, the purchase limit). The kind cannot
    change (``kind_unchangeable``): what was sold under one kind must stay that kind.
    """
    current = get_product(conn, service_id, product_id)
    if "kind" in changes and changes["kind"] != current.kind:
        raise InvalidInput(
            "kind_unchangeable",
            "A product's kind cannot change; create a new product instead.",
            {"field": "kind"},
        )
    before = {name: getattr(current, name) for name in product_fields.PRODUCT_FIELDS}
    values = product_fields.validate_product({**before, **changes})
    changed = {name: value for name, value in values.items() if before[name] != value}
    if not changed:
        return current
    if "cp_id" in changed:
        active_provider(conn, service_id, changed["cp_id"])
    if "sku" in changed:
        try:
            product_by_sku(conn, service_id, changed["sku"])
        except NotFound:
            pass
        else:
            raise _sku_taken(changed["sku"])
    conn.execute(
        update(products).where(products.c.id == product_id).values(**changed, updated_at=now)
    )
    return get_product(conn, service_id, product_id)


def set_product_status(
    conn: Connection, service_id: UUID, product_id: UUID, status: str, *, now: datetime
) -> Product:
    """Move along ``draft`` → ``on_sale`` ⇄ ``off_sale``; the same status again is a no-op.

    409 ``invalid_status_change`` for any other move; putting on sale needs an active CP
    (409 ``cp_inactive``) and, for a package, components (409 ``package_empty``).
    """
    wanted = product_fields.status(status)
    current = get_product(conn, service_id, product_id)
    if wanted == current.status:
        return current
    if wanted not in TRANSITIONS[current.status]:
        raise Conflict(
            "invalid_status_change",
            f"A product cannot go from {current.status} to {wanted}.",
            {"from": current.status, "to": wanted},
        )
    if wanted == "on_sale":
        active_provider(conn, service_id, current.cp_id)
        if current.kind == "package" and not _has_components(conn, product_id):
            raise Conflict("package_empty", "A package needs components before it is sold.")
    conn.execute(
        update(products).where(products.c.id == product_id).values(status=wanted, updated_at=now)
    )
    return get_product(conn, service_id, product_id)


def _has_components(conn: Connection, package_id: UUID) -> bool:
    count = conn.execute(
        select(func.count())
        .select_from(components_table)
        .where(components_table.c.package_id == package_id)
    ).scalar_one()
    return bool(count)


def _sku_taken(sku: str) -> Conflict:
    return Conflict("sku_taken", f"The service already has a product {sku!r}.", {"sku": sku})
