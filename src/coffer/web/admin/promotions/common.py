"""What the promotions pages share: the two kinds of rule, addresses, loading, refusals.

``promotions.view`` (operator, marketer, accountant, viewer, cs) may look; ``promotions.manage``
(operator, marketer) may create, edit, simulate, activate and end. A refusal is shown next to
the field it names, in the admin's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.catalog import categories
from coffer.catalog import products as catalog
from coffer.catalog.model import Category
from coffer.kernel.errors import CofferError, NotFound
from coffer.pricing.model import CHARGE_METHODS
from coffer.pricing.tables import RULE_STATUSES
from coffer.pricing.versioned import EVENTS, POLICIES, RuleStore
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.catalog.common import flat_tree
from coffer.web.admin.desk import messages
from coffer.web.admin.desk.common import admin_page, parse_id, translator
from coffer.web.admin.desk.forms import FormError, Gettext
from coffer.web.admin.labels import N_
from coffer.web.admin.pg.labels import METHOD_LABELS
from coffer.web.admin.promotions.forms import Draft, explain_field, form_field

PromotionsView = Annotated[AdminContext, Depends(require("promotions.view"))]
PromotionsManage = Annotated[AdminContext, Depends(require("promotions.manage"))]

STATUS_LABELS = {"draft": N_("Draft"), "active": N_("Active"), "ended": N_("Ended")}
EFFECT_LABELS = {
    "percent_off": N_("Percent off"),
    "amount_off": N_("Amount off each unit"),
    "fixed_price": N_("Fixed price each unit"),
    "buy_n_get_m": N_("Buy N, get M free"),
}
SCOPE_LABELS = {
    "catalog": N_("The whole catalog"),
    "products": N_("Some products (by SKU)"),
    "categories": N_("Some menus (and everything under them)"),
}
STACKING_LABELS = {
    "exclusive": N_("Exclusive: the best offer for the member wins"),
    "stackable": N_("Stackable: adds to other stackable rules"),
}
#: Most days a simulation may look back from the page, and what it offers first.
DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Kind:
    """Policies or events: the path segment, the rule store and the noun of its messages."""

    slug: str
    store: RuleStore[Any]

    @property
    def noun(self) -> str:
        return self.store.noun


KINDS = {"policies": Kind("policies", POLICIES), "events": Kind("events", EVENTS)}


def kind_or_404(slug: str) -> Kind:
    found = KINDS.get(slug)
    if found is None:
        raise NotFound("page_not_found", "There is nothing here.")
    return found


def rule_id_or_404(raw: str, kind: Kind) -> UUID:
    found = parse_id(raw)
    if found is None:
        raise NotFound(f"{kind.noun}_not_found", f"No such {kind.noun} in this service.")
    return found


def base_url(service_id: object) -> str:
    return f"/admin/promotions/{service_id}"


def rule_url(service_id: object, kind: Kind, rule_id: object) -> str:
    return f"{base_url(service_id)}/{kind.slug}/{rule_id}"


@dataclass
class Shown:
    """What a form shows: values, the ticked boxes of list fields, and errors by field."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Labels:
    """What a page needs to name things: menus for the picker, SKUs and menu names by id."""

    menus: list[tuple[Category, int]]
    names: dict[UUID, str]
    skus: dict[UUID, str]


def load_labels(conn: Connection, service_id: UUID, locale: str) -> Labels:
    menus = flat_tree(categories.category_tree(conn, service_id))
    skus = {p.id: p.sku for p in catalog.list_products(conn, service_id)}
    names = {c.id: (c.name_ko if locale == "ko" else c.name_en) for c, _depth in menus}
    return Labels(menus, {**names, **skus}, skus)


def promotions_page(
    request: Request,
    ctx: AdminContext,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    values = {
        "status_labels": STATUS_LABELS,
        "effect_labels": EFFECT_LABELS,
        "scope_labels": SCOPE_LABELS,
        "stacking_labels": STACKING_LABELS,
        "method_labels": METHOD_LABELS,
        "methods": CHARGE_METHODS,
        "statuses": RULE_STATUSES,
        "default_days": DEFAULT_DAYS,
        **context,
    }
    return admin_page(request, ctx, template, values, status_code=status_code)


def not_found_page(request: Request, ctx: AdminContext, error: NotFound) -> HTMLResponse:
    _ = translator(request)
    return admin_page(
        request, ctx, "admin/desk/not_found.html", {"message": explain(error, _)}, status_code=404
    )


def explain(error: CofferError, _: Gettext) -> str:
    known = {
        "policy_not_found": _("No such discount policy in this service."),
        "event_not_found": _("No such charge event in this service."),
        "rule_not_draft": _("Only a draft can be activated."),
        "rule_ended": _("This has ended and cannot change."),
        "budget_below_spent": _("The budget cannot be less than what has already been spent."),
        "invalid_name": _("Enter a name of 1 to 200 characters without control characters."),
        "invalid_days": _("Enter a whole number of days from 1 to 366."),
        "invalid_amount": _("Enter an amount above zero."),
    }
    return known.get(error.code) or messages.explain(error, _)


_FIELDS = {
    "invalid_name": "name",
    "invalid_amount": "budget",
    "budget_below_spent": "budget",
    "invalid_days": "days",
}


def refusal(error: FormError | CofferError, draft: Draft | None, _: Gettext) -> tuple[str, str]:
    """(the form field, the sentence) of a refusal."""
    if isinstance(error, FormError):
        return error.field, error.message
    named = error.details.get("field")
    if error.code == "invalid_rule" and isinstance(named, str) and draft is not None:
        where = form_field(named, draft)
        return where, explain_field(where, _) or error.message
    return _FIELDS.get(error.code, "form"), explain(error, _)
