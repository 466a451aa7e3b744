"""The fields of a product and which of them each kind uses: the table's CHECKs, as input rules.

:func:`validate_product` turns what a caller sent (a mapping of field names to values) into the
full set of stored columns, or refuses it with one code:

- ``unknown_field``: not a product field at all;
- ``missing_<field>``: a field the kind needs is absent or null (``missing_pass_days`` …);
- ``invalid_<what>``: a value of the wrong type or out of range (``invalid_price`` …);
- ``unexpected_field``: a field another kind uses (``pass_days`` on an ``item``);
- ``invalid_price``, ``invalid_sale_window``, ``invalid_purchase_limit`` for rules across fields.

Fields a kind does not use are stored as NULL; absent optional fields take their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from coffer.catalog import validation as check
from coffer.catalog.tables import PRODUCT_KINDS, PRODUCT_STATUSES, UNIT_NAMES
from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT

SKU_MAX = 100
DESCRIPTION_MAX = 4000
PASS_DAYS_MAX = 3650
LIMIT_COUNT_MAX = 1_000_000
LIMIT_DAYS_MAX = 3650
CANCEL_WINDOW_MAX = 366 * 24 * 3600
_SKU_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

#: The kind-specific fields each kind uses (all others of :data:`KIND_SPECIFIC` stay NULL).
KIND_FIELDS: dict[str, frozenset[str]] = {
    "item": frozenset({"consumable"}),
    "period_pass": frozenset({"pass_days"}),
    "quantity_pass": frozenset({"units", "unit_name"}),
    "metered": frozenset({"unit_price", "unit_name", "min_balance"}),
    "mixed": frozenset({"pass_days", "units", "unit_price", "unit_name"}),
    "package": frozenset(),
    "time_coupon": frozenset({"minutes"}),
}
KIND_SPECIFIC = frozenset().union(*KIND_FIELDS.values())

#: Values taken when a field is left out (a field not listed here and not optional is required).
DEFAULTS: dict[str, Any] = {
    "description_ko": "",
    "description_en": "",
    "sale_starts_at": None,
    "sale_ends_at": None,
    "limit_count": None,
    "limit_days": None,
    "cancel_window_seconds": 0,
    "consumable": False,
    "min_balance": 0,
}


def sku(value: object) -> str:
    """1-100 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= SKU_MAX
        or not set(value) <= _SKU_CHARS
        or not value[0].isalnum()
    ):
        raise InvalidInput(
            "invalid_sku",
            f"sku must be 1 to {SKU_MAX} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            {"field": "sku"},
        )
    return value


def kind(value: object) -> str:
    return check.choice(value, "invalid_product_kind", "kind", PRODUCT_KINDS)


def status(value: object) -> str:
    return check.choice(value, "invalid_product_status", "status", PRODUCT_STATUSES)


def _amount(code: str, label: str, low: int) -> Callable[[object], int]:
    return partial(check.integer, code=code, label=label, low=low, high=MAX_AMOUNT)


#: One check per field; each refuses with its own code.
FIELD_CHECKS: dict[str, Callable[[object], Any]] = {
    "sku": sku,
    "kind": kind,
    "cp_id": partial(check.identifier, code="invalid_cp_id", label="cp_id"),
    "name_ko": partial(check.name, label="name_ko"),
    "name_en": partial(check.name, label="name_en"),
    "description_ko": partial(
        check.optional_text, code="invalid_description", label="description_ko",
        maximum=DESCRIPTION_MAX,
    ),
    "description_en": partial(
        check.optional_text, code="invalid_description", label="description_en",
        maximum=DESCRIPTION_MAX,
    ),
    "price": _amount("invalid_price", "price", 0),
    "sale_starts_at": partial(check.moment, code="invalid_sale_window", label="sale_starts_at"),
    "sale_ends_at": partial(check.moment, code="invalid_sale_window", label="sale_ends_at"),
    "limit_count": partial(
        check.integer, code="invalid_purchase_limit", label="limit_count", low=1,
        high=LIMIT_COUNT_MAX,
    ),
    "limit_days": partial(
        check.integer, code="invalid_purchase_limit", label="limit_days", low=1,
        high=LIMIT_DAYS_MAX,
    ),
    "cancel_window_seconds": partial(
        check.integer, code="invalid_cancel_window", label="cancel_window_seconds", low=0,
        high=CANCEL_WINDOW_MAX,
    ),
    "consumable": partial(check.flag, code="invalid_consumable", label="consumable"),
    "pass_days": partial(
        check.integer, code="invalid_pass_days", label="pass_days", low=1, high=PASS_DAYS_MAX
    ),
    "units": _amount("invalid_units", "units", 1),
    "unit_name": partial(
        check.choice, code="invalid_unit_name", label="unit_name", options=UNIT_NAMES
    ),
    "unit_price": _amount("invalid_unit_price", "unit_price", 1),
    "min_balance": _amount("invalid_min_balance", "min_balance", 0),
    "minutes": _amount("invalid_minutes", "minutes", 1),
}  # fmt: skip

#: Every field a caller may give, in the order they are checked.
PRODUCT_FIELDS = tuple(FIELD_CHECKS)


def validate_product(given: Mapping[str, object]) -> dict[str, Any]:
    """All stored fields of a product from what was given (see the module docstring)."""
    unknown = sorted(set(given) - set(FIELD_CHECKS))
    if unknown:
        raise InvalidInput(
            "unknown_field", f"Not a product field: {unknown[0]}.", {"field": unknown[0]}
        )
    product_kind = _required(given, "kind")
    used = KIND_FIELDS[product_kind]
    values: dict[str, Any] = {}
    for field, field_check in FIELD_CHECKS.items():
        value = given.get(field)
        if field in KIND_SPECIFIC and field not in used:
            if value is not None:
                raise InvalidInput(
                    "unexpected_field",
                    f"A {product_kind} product has no {field}.",
                    {"field": field, "kind": product_kind},
                )
            values[field] = None
        elif value is not None:
            values[field] = field_check(value)
        elif field in DEFAULTS:
            values[field] = DEFAULTS[field]
        elif field == "price" and product_kind == "metered":
            values[field] = 0
        else:
            values[field] = _required(given, field)
    _check_across(values)
    return values


def _required(given: Mapping[str, object], field: str) -> Any:
    value = given.get(field)
    if value is None:
        raise InvalidInput(f"missing_{field}", f"{field} is required.", {"field": field})
    return FIELD_CHECKS[field](value)


def _check_across(values: Mapping[str, Any]) -> None:
    """The rules that join fields: price per kind, the sale window, the purchase limit."""
    if values["kind"] == "metered" and values["price"] != 0:
        raise InvalidInput(
            "invalid_price",
            "A metered product has no price of its own (0): it charges unit_price per unit.",
            {"field": "price"},
        )
    if values["kind"] != "metered" and values["price"] == 0:
        raise InvalidInput("invalid_price", "price must be greater than zero.", {"field": "price"})
    starts, ends = values["sale_starts_at"], values["sale_ends_at"]
    if starts is not None and ends is not None and starts >= ends:
        raise InvalidInput(
            "invalid_sale_window",
            "sale_ends_at must be after sale_starts_at.",
            {"field": "sale_ends_at"},
        )
    if (values["limit_count"] is None) != (values["limit_days"] is None):
        raise InvalidInput(
            "invalid_purchase_limit",
            "A purchase limit needs both limit_count and limit_days (or neither).",
            {"field": "limit_count" if values["limit_count"] is None else "limit_days"},
        )
