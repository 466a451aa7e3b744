"""Read-only queries the admin catalog editor, the CS member page and the cash shop need beyond
:mod:`coffer.catalog.products` and :mod:`coffer.catalog.categories`.

Nothing here writes. Every query is scoped to one service: an id of another service's product
is simply absent from the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.catalog.model import Product
from coffer.catalog.products import product_of
from coffer.catalog.tables import categories, product_categories, products

#: Ids per ``IN (…)`` list (well under every driver's limit on bound parameters).
_CHUNK = 500


def products_by_ids(
    conn: Connection, service_id: UUID, product_ids: Iterable[UUID | None]
) -> dict[UUID, Product]:
    """The service's products among ``product_ids`` (None and unknown ids are skipped)."""
    wanted = sorted({pid for pid in product_ids if pid is not None})
    found: dict[UUID, Product] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(products).where(
                products.c.service_id == service_id,
                products.c.id.in_(wanted[start : start + _CHUNK]),
            )
        ).mappings()
        for row in rows:
            product = product_of(row)
            found[product.id] = product
    return found


def placement_counts(conn: Connection, service_id: UUID) -> dict[UUID, int]:
    """How many products (of any status) each of the service's categories holds."""
    rows = conn.execute(
        select(product_categories.c.category_id, func.count())
        .join(categories, categories.c.id == product_categories.c.category_id)
        .where(categories.c.service_id == service_id)
        .group_by(product_categories.c.category_id)
    ).all()
    return {category_id: int(count) for category_id, count in rows}
