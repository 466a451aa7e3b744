"""A package's composition on its product page: add a component (or change its quantity) and
remove one. Each stores the whole new list through the catalog (which checks every rule: no
package inside a package, nothing metered, quantities 1 to 10,000, at least one component)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from coffer.catalog import products
from coffer.kernel.errors import CofferError, NotFound
from coffer.web.admin.catalog import actions
from coffer.web.admin.catalog.common import CatalogManage, object_or_404, product_url
from coffer.web.admin.catalog.product_pages import product_refused
from coffer.web.admin.desk.common import (
    done,
    form_values,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, Gettext, object_id, text
from coffer.web.admin.desk.operator import Operator

router = APIRouter()

QUANTITY_MAX = 10_000


def _quantity(raw: str, _: Gettext) -> int:
    value = raw.strip()
    whole = value.isascii() and value.isdigit() and len(value) <= 6
    if not whole or not 1 <= int(value) <= QUANTITY_MAX:
        raise FormError("quantity", _("Enter a quantity from 1 to 10000."))
    return int(value)


def _package_id(raw: str) -> UUID:
    return object_or_404(raw, "product_not_found", "No such product in this service.")


@router.post("/catalog/{service_id}/products/{product_id}/components")
async def add_component(
    request: Request, ctx: CatalogManage, service_id: str, product_id: str
) -> Response:
    """Add a product to the package, or set the quantity of one already in it."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        package_id = _package_id(product_id)
        component = object_id(text(values, "component_id"), _, name="component_id")
        quantity = _quantity(text(values, "quantity"), _)
        current = {p.id: q for p, q in products.package_components(conn, package_id)}
        current[component] = quantity
        actions.set_package_components(
            conn, service.id, package_id, list(current.items()), who=Operator.of(ctx), now=now
        )

    try:
        await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code == "component_not_found":
            error = FormError("component_id", _("Choose a product of this service."))
        return await product_refused(
            request, ctx, service_id, product_id, "components", values, error
        )
    return done(product_url(service_id, product_id), _("Package contents saved."))


@router.post("/catalog/{service_id}/products/{product_id}/components/remove")
async def remove_component(
    request: Request, ctx: CatalogManage, service_id: str, product_id: str
) -> Response:
    """Take a product out of the package (a package keeps at least one component)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        package_id = _package_id(product_id)
        component = object_id(text(values, "component_id"), _, name="component_id")
        current = {p.id: q for p, q in products.package_components(conn, package_id)}
        if component not in current:
            raise FormError("component_id", _("This product is not in the package."))
        del current[component]
        if not current:
            raise FormError(
                "component_id", _("A package keeps at least one component: add another first.")
            )
        actions.set_package_components(
            conn, service.id, package_id, list(current.items()), who=Operator.of(ctx), now=now
        )

    try:
        await write(request, perform)
    except (FormError, CofferError) as error:
        return await product_refused(
            request, ctx, service_id, product_id, "components", values, error
        )
    return done(product_url(service_id, product_id), _("Package contents saved."))
