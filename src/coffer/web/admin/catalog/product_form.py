"""The product form: what each field shows, and what the form sends, as the catalog takes it.

One form serves every kind and shows only the fields the kind uses
(:data:`coffer.catalog.product_fields.KIND_FIELDS`). Amounts are typed in the currency's major
unit (read exactly, as on the desk); the sale window in the service's time zone; the
cancellation window in hours. The catalog checks the rest (and refuses with a code that names
the field).

When a product is edited, a field sent back exactly as the page showed it is left out of the
change, so what the form cannot show exactly (a sale start with seconds, a cancellation window
that is not whole hours, set through the API) is kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coffer.catalog.model import Product
from coffer.catalog.product_fields import KIND_FIELDS
from coffer.web.admin.catalog.common import major
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, Gettext, text

_WHOLE = re.compile(r"\d{1,12}", re.ASCII)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", re.ASCII)
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"

#: Fields every kind has, in form order (the kind-specific ones follow).
COMMON_FIELDS = (
    "sku",
    "name_ko",
    "name_en",
    "description_ko",
    "description_en",
    "cp_id",
    "price",
    "sale_starts_at",
    "sale_ends_at",
    "limit_count",
    "limit_days",
    "cancel_window_hours",
)
SPECIFIC_FIELDS = (
    "consumable",
    "pass_days",
    "units",
    "unit_name",
    "unit_price",
    "min_balance",
    "minutes",
)


def kind_fields(kind: str) -> frozenset[str]:
    """The kind-specific fields the form shows for ``kind``."""
    return KIND_FIELDS.get(kind, frozenset())


def form_fields(kind: str) -> list[str]:
    """Every field of the form for ``kind`` (a metered product has no price of its own)."""
    common = [f for f in COMMON_FIELDS if not (kind == "metered" and f == "price")]
    return common + [f for f in SPECIFIC_FIELDS if f in kind_fields(kind)]


def _local(moment: datetime | None, timezone: str) -> str:
    return "" if moment is None else moment.astimezone(ZoneInfo(timezone)).strftime(_LOCAL_FORMAT)


def _hours(seconds: int) -> str:
    if seconds % 3600 == 0:
        return str(seconds // 3600)
    return str((Decimal(seconds) / 3600).quantize(Decimal("0.0001")))


def shown(product: Product, code: str, timezone: str) -> dict[str, str]:
    """The form's fields as the page shows them for ``product``."""
    values = {
        "sku": product.sku,
        "name_ko": product.name_ko,
        "name_en": product.name_en,
        "description_ko": product.description_ko,
        "description_en": product.description_en,
        "cp_id": str(product.cp_id),
        "price": major(product.price, code),
        "sale_starts_at": _local(product.sale_starts_at, timezone),
        "sale_ends_at": _local(product.sale_ends_at, timezone),
        "limit_count": "" if product.limit_count is None else str(product.limit_count),
        "limit_days": "" if product.limit_days is None else str(product.limit_days),
        "cancel_window_hours": _hours(product.cancel_window_seconds),
        "consumable": "on" if product.consumable else "",
        "pass_days": "" if product.pass_days is None else str(product.pass_days),
        "units": "" if product.units is None else str(product.units),
        "unit_name": product.unit_name or "",
        "unit_price": major(product.unit_price, code),
        "min_balance": major(product.min_balance, code),
        "minutes": "" if product.minutes is None else str(product.minutes),
    }
    return {name: values[name] for name in form_fields(product.kind)}


def blank(kind: str) -> dict[str, str]:
    """A new product's form: empty, with the defaults an operator most often wants."""
    defaults = {"cancel_window_hours": "168", "unit_name": "unit", "min_balance": "0"}
    return {name: defaults.get(name, "") for name in form_fields(kind)}


def _whole(raw: str, _: Gettext, name: str) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if not _WHOLE.fullmatch(value):
        raise FormError(name, _("Enter a whole number (digits only)."))
    return int(value)


def _moment(raw: str, timezone: str, _: Gettext, name: str) -> datetime | None:
    value = raw.strip()
    if not value:
        return None
    try:
        if not _LOCAL.fullmatch(value):
            raise ValueError(value)
        return datetime.strptime(value, _LOCAL_FORMAT).replace(tzinfo=ZoneInfo(timezone))
    except ValueError:
        raise FormError(name, _("Enter a date and time (YYYY-MM-DD HH:MM).")) from None


def _cp(raw: str, _: Gettext) -> UUID:
    try:
        return UUID(raw.strip())
    except ValueError:
        raise FormError("cp_id", _("Choose a content provider of this service.")) from None


def _money(raw: str, code: str, _: Gettext, name: str, *, zero: bool = False) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if zero and value.strip("0.") == "" and value[0] == "0":
        return 0
    return forms.amount(value, code, _, name=name)


def _field(name: str, raw: str, code: str, timezone: str, _: Gettext) -> Any:
    """One field's value as the catalog takes it (None: not given)."""
    if name == "cp_id":
        return _cp(raw, _) if raw.strip() else None
    if name in ("price", "unit_price"):
        return _money(raw, code, _, name)
    if name == "min_balance":
        return _money(raw, code, _, name, zero=True)
    if name in ("sale_starts_at", "sale_ends_at"):
        return _moment(raw, timezone, _, name)
    if name == "cancel_window_hours":
        hours = _whole(raw, _, name)
        return None if hours is None else hours * 3600
    if name in ("limit_count", "limit_days", "pass_days", "units", "minutes"):
        return _whole(raw, _, name)
    if name == "consumable":
        return raw == "on"
    if name == "sku":
        return raw.strip()
    if name == "unit_name":
        return raw or None
    return raw  # names and descriptions: the catalog trims and checks them


#: Form names of fields the catalog knows by another name.
_CATALOG_NAMES = {"cancel_window_hours": "cancel_window_seconds"}


def new_product(
    values: Mapping[str, Any], kind: str, code: str, timezone: str, _: Gettext
) -> dict[str, Any]:
    """The spec of a new product of ``kind`` from the form (fields left empty are not given)."""
    spec: dict[str, Any] = {"kind": kind}
    for name in form_fields(kind):
        value = _field(name, text(values, name), code, timezone, _)
        if value is not None:
            spec[_CATALOG_NAMES.get(name, name)] = value
    if "cancel_window_seconds" not in spec:
        spec["cancel_window_seconds"] = 0
    return spec


def changes(
    values: Mapping[str, Any], product: Product, code: str, timezone: str, _: Gettext
) -> dict[str, Any]:
    """What the form changes in ``product`` (a field sent as shown is left as it is; an emptied
    optional field is cleared)."""
    before = shown(product, code, timezone)
    changed: dict[str, Any] = {}
    for name in form_fields(product.kind):
        raw = text(values, name)
        if raw.strip() == before[name].strip():
            continue
        changed[_CATALOG_NAMES.get(name, name)] = _field(name, raw, code, timezone, _)
    if changed.get("cancel_window_seconds", 0) is None:
        changed["cancel_window_seconds"] = 0
    return changed
