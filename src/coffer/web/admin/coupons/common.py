"""What the coupon pages share: permissions, addresses, reading the campaign form, messages.

``coupons.view`` (every role) may look and inquire; ``coupons.manage`` (operator, marketer)
creates, activates, ends, generates, exports and revokes; ``coupons.issue`` (operator,
marketer, cs) issues a code to a member and cancels redemptions.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends
from sqlalchemy.engine import Connection

from coffer.catalog import products
from coffer.coupons.tables import CAMPAIGN_KINDS, CODE_MODES
from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import forms, messages
from coffer.web.admin.desk.forms import FormError, Gettext, text

CouponsView = Annotated[AdminContext, Depends(require("coupons.view"))]
CouponsManage = Annotated[AdminContext, Depends(require("coupons.manage"))]
CouponsIssue = Annotated[AdminContext, Depends(require("coupons.issue"))]

SCOPES = ("catalog", "products", "categories")
EFFECTS = ("percent_off", "amount_off")


def base_url(service_id: object) -> str:
    return f"/admin/coupons/{service_id}"


def campaign_url(service_id: object, campaign_id: object) -> str:
    return f"{base_url(service_id)}/campaigns/{campaign_id}"


def _whole(values: dict[str, Any], name: str, _: Gettext, *, default: int | None = None,
           low: int = 1, high: int = 1_000_000_000) -> int | None:  # fmt: skip
    raw = text(values, name).strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise FormError(name, _("Enter a whole number from %(low)s to %(high)s.")
                        % {"low": low, "high": high})  # fmt: skip
    return int(raw)


def _day_start(values: dict[str, Any], name: str, zone: str, _: Gettext) -> datetime:
    day = forms.day(text(values, name), _, name=name)
    if day is None:
        raise FormError(name, _("Enter a date as YYYY-MM-DD."))
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


def _rule(conn: Connection, service: Service, values: dict[str, Any], _: Gettext) -> Any:
    """A discount rule's JSON from the simple fields (percent or amount off; whole catalog,
    products by SKU, or one menu with its submenus); the pricing rules check the rest."""
    effect = forms.choice(text(values, "effect"), EFFECTS, _, name="effect")
    if effect == "percent_off":
        percent = _whole(values, "percent", _, low=1, high=100)
        if percent is None:
            raise FormError("percent", _("Enter the percentage off."))
        value = percent * 100
    else:
        value = forms.amount(text(values, "amount_off"), service.currency, _, name="amount_off")
    scope = forms.choice(text(values, "scope") or "catalog", SCOPES, _, name="scope")
    ids: list[str] = []
    if scope == "products":
        skus = [s for s in text(values, "scope_skus").replace(",", " ").split() if s]
        if not skus:
            raise FormError("scope_skus", _("List the SKUs of the products."))
        for sku in skus:
            try:
                ids.append(str(products.product_by_sku(conn, service.id, sku).id))
            except NotFound:
                raise FormError(
                    "scope_skus", _("No product with the SKU %(sku)s.") % {"sku": sku}
                ) from None
    elif scope == "categories":
        ids = [str(forms.object_id(text(values, "scope_category"), _, name="scope_category"))]
    minimum = forms.optional_amount(text(values, "min_amount"), service.currency, _,
                                    name="min_amount")  # fmt: skip
    return {
        "scope": {"kind": scope, "ids": ids},
        "conditions": {"min_amount": minimum or 0},
        "effect": {"kind": effect, "value": value},
    }


def campaign_spec(
    conn: Connection, service: Service, values: dict[str, Any], _: Gettext
) -> dict[str, Any]:
    """The keyword arguments of ``campaigns.create_campaign`` from the create form.

    Dates are whole days in the service's time zone: valid from the start of the first day to
    the end of the last."""
    kind = forms.choice(text(values, "kind"), CAMPAIGN_KINDS, _, name="kind")
    mode = forms.choice(text(values, "code_mode"), CODE_MODES, _, name="code_mode")
    name = text(values, "name").strip()
    if not name:
        raise FormError("name", _("Enter a name."))
    starts = _day_start(values, "valid_from", service.timezone, _)
    last = forms.day(text(values, "valid_until"), _, name="valid_until")
    if last is None:
        raise FormError("valid_until", _("Enter a date as YYYY-MM-DD."))
    spec: dict[str, Any] = {
        "name": name, "kind": kind, "code_mode": mode, "valid_from": starts,
        "valid_until": forms.end_of_day(last, service.timezone),
        "per_member_limit": _whole(values, "per_member_limit", _, default=1),
    }  # fmt: skip
    if mode == "public":
        spec["public_code"] = text(values, "public_code")
        spec["redemption_limit"] = _whole(values, "redemption_limit", _)
    if kind == "cash":
        spec["cash_amount"] = forms.amount(text(values, "cash_amount"), service.currency, _,
                                           name="cash_amount")  # fmt: skip
        spec["bonus_days"] = _whole(values, "bonus_days", _, high=3660)
    elif kind == "product":
        sku = text(values, "product_sku").strip()
        try:
            spec["product_id"] = products.product_by_sku(conn, service.id, sku).id
        except NotFound:
            raise FormError("product_sku", _("No product with this SKU.")) from None
        spec["product_quantity"] = _whole(values, "product_quantity", _, default=1, high=10_000)
    else:
        spec["discount_rule"] = _rule(conn, service, values, _)
    return spec


#: The form field a refusal belongs to, by the field its details name or by its code.
_FIELDS = {
    "product_id": "product_sku",
    "product_quantity": "product_quantity",
    "rule": "effect",
    "effect.value": "percent",
    "scope.ids": "scope_skus",
    "conditions.min_amount": "min_amount",
}
_CODE_FIELDS = {
    "public_code_taken": "public_code",
    "invalid_coupon_code": "code",
    "coupon_not_found": "code",
    "member_not_found": "external_id",
    "member_closed": "external_id",
}


def field_of(error: CofferError, default: str = "form") -> str:
    named = error.details.get("field")
    if isinstance(named, str) and named:
        return _FIELDS.get(named, named)
    return _CODE_FIELDS.get(error.code, default)


def explain(error: CofferError, _: Gettext) -> str:
    """A sentence for a marketer or a CS agent; unknown codes fall back to the desk's."""
    known = {
        "invalid_public_code": _(
            "A public code is 4 to 32 letters and digits, and must not look like a generated code."
        ),
        "public_code_taken": _("Another campaign of this service already uses this code."),
        "invalid_validity": _("The campaign must end after it starts."),
        "invalid_status_change": _("The campaign cannot change to this status."),
        "campaign_not_bulk": _("A public-code campaign has no generated codes."),
        "campaign_ended": _("The campaign has ended."),
        "campaign_not_found": _("No such coupon campaign in this service."),
        "invalid_count": _("Enter a number of codes from 1 to 10000."),
        "product_not_grantable": _("This kind of product cannot be granted by a coupon."),
        "invalid_rule": _("The discount rule is not valid: %(detail)s") % {"detail": error.message},
        "invalid_coupon_code": _("This is not a coupon code: check it for typing mistakes."),
        "coupon_not_found": _("No such coupon code in this service."),
        "coupon_cash_used": _("Some of the coupon's cash has been used: it cannot be cancelled."),
        "coupon_product_in_use": _(
            "What the coupon granted has been used: it cannot be cancelled."
        ),
        "coupon_redeemed_in_purchase": _(
            "This coupon was a discount in a purchase: cancel the purchase instead."
        ),
        "redemption_already_cancelled": _("This redemption is already cancelled."),
        "redemption_not_found": _("No such redemption in this service."),
    }
    return known.get(error.code) or messages.explain(error, _)


def refusal(error: FormError | CofferError, _: Gettext) -> tuple[FormError, int]:
    """A refusal as the form error to show and the page's status code."""
    if isinstance(error, FormError):
        return error, 422
    return FormError(field_of(error), explain(error, _)), error.status
