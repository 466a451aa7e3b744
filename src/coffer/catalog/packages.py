"""Package composition: which products, and how many of each, a package grants.

A package is sold at its own price (no rule ties it to its components' prices); purchases
split that price over the components' CPs. Components are single products of the same
service: no package inside a package, and nothing metered (a metered product has no fixed
quantity to grant). Read a package's components with
:func:`coffer.catalog.products.package_components`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, update
from sqlalchemy.engine import Connection

from coffer.catalog import validation as check
from coffer.catalog.model import Product
from coffer.catalog.products import get_product, package_components
from coffer.catalog.tables import package_components as components_table
from coffer.catalog.tables import products
from coffer.kernel.errors import InvalidInput, NotFound

MAX_COMPONENTS = 100
QUANTITY_MAX = 10_000


def set_package_components(
    conn: Connection,
    service_id: UUID,
    package_id: UUID,
    components: Sequence[tuple[UUID, int]],
    *,
    now: datetime,
) -> list[tuple[Product, int]]:
    """Replace the package's components with ``components`` ((product id, quantity) pairs).

    422 ``not_a_package``, ``package_empty``, ``too_many_components``, ``duplicate_component``,
    ``invalid_quantity``, ``nested_package``, ``metered_component``; 404 ``component_not_found``
    (also for another service's product).
    """
    package = get_product(conn, service_id, package_id)
    if package.kind != "package":
        raise InvalidInput("not_a_package", f"{package.sku} is a {package.kind}, not a package.")
    wanted = _checked_pairs(components)
    for component_id in wanted:
        _check_component(conn, service_id, package_id, component_id)
    conn.execute(delete(components_table).where(components_table.c.package_id == package_id))
    conn.execute(
        insert(components_table),
        [
            {"package_id": package_id, "component_id": component_id, "quantity": quantity}
            for component_id, quantity in wanted.items()
        ],
    )
    conn.execute(update(products).where(products.c.id == package_id).values(updated_at=now))
    return package_components(conn, package_id)


def _checked_pairs(components: Sequence[tuple[UUID, int]]) -> dict[UUID, int]:
    if not components:
        raise InvalidInput("package_empty", "A package needs at least one component.")
    if len(components) > MAX_COMPONENTS:
        raise InvalidInput(
            "too_many_components", f"A package has at most {MAX_COMPONENTS} components."
        )
    wanted: dict[UUID, int] = {}
    for component_id, quantity in components:
        check.identifier(component_id, "invalid_component", "product_id")
        if component_id in wanted:
            raise InvalidInput(
                "duplicate_component",
                "A component is listed twice: give its total quantity once.",
                {"product_id": str(component_id)},
            )
        wanted[component_id] = check.integer(
            quantity, "invalid_quantity", "quantity", 1, QUANTITY_MAX
        )
    return wanted


def _check_component(
    conn: Connection, service_id: UUID, package_id: UUID, component_id: UUID
) -> None:
    try:
        component = get_product(conn, service_id, component_id)
    except NotFound:
        raise NotFound(
            "component_not_found",
            "No such product in this service.",
            {"product_id": str(component_id)},
        ) from None
    if component.kind == "package":
        what = "itself" if component_id == package_id else f"package {component.sku}"
        raise InvalidInput(
            "nested_package",
            f"A package cannot contain {what}.",
            {"product_id": str(component_id)},
        )
    if component.kind == "metered":
        raise InvalidInput(
            "metered_component",
            f"{component.sku} is metered: it has no quantity a package could grant.",
            {"product_id": str(component_id)},
        )
