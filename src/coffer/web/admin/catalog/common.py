"""What the catalog pages share: permissions, addresses, the page helper and the messages.

``catalog.view`` (operator, marketer, accountant, viewer, cs) may look; ``catalog.manage``
(operator, marketer) may change. A refusal of the catalog (a :class:`CofferError` with a stable
code) is shown next to the field it names, in the admin's language.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.catalog import categories
from coffer.catalog.categories import CategoryNode
from coffer.catalog.model import Category
from coffer.kernel.errors import CofferError, NotFound
from coffer.kernel.money import currency, format_minor
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.catalog.labels import (
    CP_STATUS_LABELS,
    KIND_HINTS,
    KIND_LABELS,
    STATUS_LABELS,
    UNIT_LABELS,
)
from coffer.web.admin.desk import messages
from coffer.web.admin.desk.common import admin_page, parse_id, translator
from coffer.web.admin.desk.forms import FormError, Gettext

CatalogView = Annotated[AdminContext, Depends(require("catalog.view"))]
CatalogManage = Annotated[AdminContext, Depends(require("catalog.manage"))]


def base_url(service_id: object) -> str:
    return f"/admin/catalog/{service_id}"


def tree_url(service_id: object) -> str:
    return base_url(service_id)


def products_url(service_id: object) -> str:
    return f"{base_url(service_id)}/products"


def product_url(service_id: object, product_id: object) -> str:
    return f"{products_url(service_id)}/{product_id}"


def providers_url(service_id: object) -> str:
    return f"{base_url(service_id)}/providers"


def rate_url(service_id: object) -> str:
    return f"{base_url(service_id)}/time-rate"


def object_or_404(raw: str, code: str, message: str) -> UUID:
    """An id from the path; a malformed one is as unknown as a missing one."""
    found = parse_id(raw)
    if found is None:
        raise NotFound(code, message)
    return found


def major(amount: int | None, code: str) -> str:
    """Minor units as an admin types them back ("12000", "12.5"); '' for None."""
    return "" if amount is None else format_minor(amount, currency(code))


def catalog_page(
    request: Request,
    ctx: AdminContext,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """An admin page with the catalog's labels."""
    values = {
        "kind_labels": KIND_LABELS,
        "kind_hints": KIND_HINTS,
        "status_labels": STATUS_LABELS,
        "cp_status_labels": CP_STATUS_LABELS,
        "unit_labels": UNIT_LABELS,
        "forms": {},
        **context,
    }
    return admin_page(request, ctx, template, values, status_code=status_code)


def not_found_page(request: Request, ctx: AdminContext, error: NotFound) -> HTMLResponse:
    _ = translator(request)
    return admin_page(
        request, ctx, "admin/desk/not_found.html", {"message": explain(error, _)}, status_code=404
    )


def flat_tree(nodes: list[CategoryNode], depth: int = 0) -> list[tuple[Category, int]]:
    """The tree in display order, each category with its depth (for pickers and lists)."""
    rows: list[tuple[Category, int]] = []
    for node in nodes:
        rows.append((node.category, depth))
        rows.extend(flat_tree(list(node.children), depth + 1))
    return rows


def category_choices(conn: Connection, service_id: UUID) -> list[tuple[Category, int]]:
    return flat_tree(categories.category_tree(conn, service_id))


#: The form field each refusal belongs to, when its details do not name one.
FIELDS: dict[str, str] = {
    "sku_taken": "sku",
    "invalid_sku": "sku",
    "cp_not_found": "cp_id",
    "cp_inactive": "cp_id",
    "invalid_cp_id": "cp_id",
    "cp_name_taken": "name",
    "invalid_cp_name": "name",
    "invalid_contact": "contact",
    "invalid_rate": "cash_per_minute",
    "category_cycle": "parent_id",
    "invalid_position": "position",
    "component_not_found": "component_id",
    "invalid_component": "component_id",
    "nested_package": "component_id",
    "metered_component": "component_id",
    "duplicate_component": "component_id",
    "invalid_quantity": "quantity",
    "duplicate_category": "categories",
    "too_many_categories": "categories",
}

#: Product fields as the form names them (the rest keep their names).
FORM_FIELDS: dict[str, str] = {"cancel_window_seconds": "cancel_window_hours"}


def field_of(error: CofferError, default: str = "form") -> str:
    named = error.details.get("field")
    if isinstance(named, str) and named:
        return FORM_FIELDS.get(named, named)
    return FIELDS.get(error.code, default)


def explain(error: CofferError, _: Gettext) -> str:
    """A sentence for an operator; unknown codes fall back to the desk's sentences."""
    code = error.code
    if code.startswith("missing_"):
        return _("This field is required.")
    known = {
        "category_not_found": _("No such category in this service."),
        "category_cycle": _("A category cannot move into itself or its own subcategories."),
        "category_not_empty": _(
            "Only an empty category can be deleted: move or delete its subcategories and take "
            "its products out first."
        ),
        "invalid_position": _("There is no such position there: leave it empty for the end."),
        "invalid_name": _("Enter a name of 1 to 200 characters without control characters."),
        "invalid_cp_name": _("Enter a name of 1 to 200 characters without control characters."),
        "invalid_contact": _("Enter at most 500 characters."),
        "invalid_description": _("Enter at most 4000 characters."),
        "invalid_sku": _(
            "Use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit."
        ),
        "sku_taken": _("This service already has a product with this SKU."),
        "cp_not_found": _("Choose a content provider of this service."),
        "cp_inactive": _("This content provider is inactive: activate it first."),
        "cp_name_taken": _("This service already has a content provider with this name."),
        "cp_has_products_on_sale": _(
            "This content provider has products on sale: take them off sale first."
        ),
        "product_not_found": _("No such product in this service."),
        "kind_unchangeable": _("A product's kind cannot change; create a new product instead."),
        "invalid_status_change": _("The product cannot change to this status."),
        "package_empty": _("A package needs at least one component before it can be sold."),
        "invalid_price": _("Enter a price above zero."),
        "invalid_sale_window": _("The sale must end after it starts."),
        "invalid_purchase_limit": _(
            "Give both the number and the days of the purchase limit, or neither."
        ),
        "invalid_cancel_window": _("Enter a cancellation window of 0 to 8784 hours."),
        "invalid_pass_days": _("Enter a whole number of days from 1 to 3650."),
        "invalid_units": _("Enter a whole number above zero."),
        "invalid_minutes": _("Enter a whole number of minutes above zero."),
        "invalid_unit_name": _("Choose one of the options."),
        "invalid_unit_price": _("Enter a price per unit above zero."),
        "invalid_min_balance": _("Enter zero or more."),
        "not_a_package": _("Only a package has components."),
        "component_not_found": _("Choose a product of this service."),
        "nested_package": _("A package cannot contain another package."),
        "metered_component": _("A metered product cannot be part of a package."),
        "duplicate_component": _("This product is already in the package."),
        "too_many_components": _("A package has at most 100 components."),
        "invalid_quantity": _("Enter a quantity from 1 to 10000."),
        "duplicate_category": _("A category is listed twice."),
        "too_many_categories": _("A product can be in at most 50 categories."),
        "invalid_rate": _("Enter the cash for one minute, above zero."),
    }
    return known.get(code) or messages.explain(error, _)


def refusal(error: FormError | CofferError, _: Gettext) -> tuple[FormError, int]:
    """A refusal as the form error to show and the page's status code."""
    if isinstance(error, FormError):
        return error, 422
    return FormError(field_of(error), explain(error, _)), error.status
