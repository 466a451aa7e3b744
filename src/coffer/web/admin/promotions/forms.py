"""The policy and event forms: what each field shows, and the rule JSON the form sends.

The form is read into exactly the JSON that :func:`~coffer.pricing.model.parse_discount_rule`
and :func:`~coffer.pricing.model.parse_event_rule` take (the API's form), and those check the
rule; a refusal names a JSON field, which :func:`form_field` maps back to the form's field.

- Amounts are typed in the currency's major unit, read exactly (as on the desk); the
  minimums and a tier's fixed bonus may be 0.
- Percentages are typed as a percentage ("10", "12.5") and become basis points exactly: read
  as a :class:`~decimal.Decimal`, at most 2 decimals, never through a float.
- Times are typed in the service's time zone (``YYYY-MM-DDTHH:MM``, a datetime-local input).
- Products are named by SKU (commas, spaces or lines between them), menus by ticking them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from coffer.catalog import products as catalog
from coffer.kernel.errors import NotFound
from coffer.kernel.money import currency, format_minor
from coffer.pricing.model import MAX_TIERS, DiscountRule, EventRule
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, Gettext, text

_WHOLE = re.compile(r"\d{1,9}", re.ASCII)
_PERCENT = re.compile(r"\d{1,3}(?:\.\d+)?", re.ASCII)
_ZERO = re.compile(r"0+(?:\.0+)?", re.ASCII)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", re.ASCII)
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
_SEPARATORS = re.compile(r"[\s,]+")

#: Tier rows an event form shows beyond the tiers it has (at least 3 in all).
SPARE_TIERS = 2


@dataclass(frozen=True, slots=True)
class Posted:
    """A posted form: the last value of each field, and every value of the list fields."""

    values: dict[str, str]
    lists: dict[str, list[str]]

    def get(self, name: str) -> str:
        return text(self.values, name)

    def checked(self, name: str) -> bool:
        return self.get(name) == "on"


@dataclass(frozen=True, slots=True)
class Draft:
    """What a form sends: the name, the budget (minor units) and the rule's JSON."""

    name: str
    budget: int | None
    rule: dict[str, Any]
    #: For events: the form row of each tier in ``rule["tiers"]`` (to place errors).
    tier_rows: tuple[int, ...] = ()


# --- single fields ---------------------------------------------------------------------------


def whole(raw: str, _: Gettext, name: str) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if not _WHOLE.fullmatch(value):
        raise FormError(name, _("Enter a whole number (digits only)."))
    return int(value)


def percent_bp(raw: str, _: Gettext, name: str) -> int | None:
    """A percentage as typed ("10", "12.5") in basis points, exactly; '' is None."""
    value = raw.strip().removesuffix("%").strip()
    if not value:
        return None
    if not _PERCENT.fullmatch(value):
        raise FormError(name, _("Enter a percentage such as 10 or 12.5."))
    exact = Decimal(value) * 100
    if exact != exact.to_integral_value():
        raise FormError(name, _("A percentage has at most 2 decimals."))
    bp = int(exact)
    if bp > 10_000:
        raise FormError(name, _("A percentage is at most 100."))
    return bp


def bp_text(bp: int) -> str:
    """Basis points as the form shows them: 1000 → "10", 1250 → "12.5"."""
    whole_part, rest = divmod(bp, 100)
    return str(whole_part) if rest == 0 else f"{whole_part}.{rest:02d}".rstrip("0")


def money(raw: str, code: str, _: Gettext, name: str, *, zero: bool = False) -> int | None:
    """An amount in the major unit, read exactly; '' is None, and 0 only when ``zero``."""
    value = raw.strip()
    if not value:
        return None
    if zero and _ZERO.fullmatch(value):
        return 0
    return forms.amount(value, code, _, name=name)


def major(amount: int | None, code: str) -> str:
    return "" if amount is None else format_minor(amount, currency(code))


def local_time(raw: str, timezone: str, _: Gettext, name: str) -> str | None:
    """A datetime-local value in the service's zone as an ISO time in UTC."""
    value = raw.strip()
    if not value:
        return None
    try:
        if not _LOCAL.fullmatch(value):
            raise ValueError(value)
        moment = datetime.strptime(value, _LOCAL_FORMAT).replace(tzinfo=ZoneInfo(timezone))
    except ValueError:
        raise FormError(name, _("Enter a date and time as YYYY-MM-DDTHH:MM.")) from None
    return moment.astimezone(UTC).isoformat()


def shown_time(moment: datetime | None, timezone: str) -> str:
    return "" if moment is None else moment.astimezone(ZoneInfo(timezone)).strftime(_LOCAL_FORMAT)


def names(raw: str) -> list[str]:
    """Names typed with commas, spaces or lines between them, each once, in order."""
    return list(dict.fromkeys(part for part in _SEPARATORS.split(raw.strip()) if part))


def _budget(posted: Posted, code: str, _: Gettext) -> int | None:
    return money(posted.get("budget"), code, _, "budget")


def _name(posted: Posted, _: Gettext) -> str:
    value = posted.get("name").strip()
    if not value:
        raise FormError("name", _("This field is required."))
    return value


# --- policies --------------------------------------------------------------------------------

POLICY_DEFAULTS = {
    "scope_kind": "catalog",
    "effect_kind": "percent_off",
    "min_quantity": "1",
    "priority": "0",
    "stacking": "exclusive",
}


def _skus(conn: Connection, service_id: UUID, raw: str, _: Gettext) -> list[str]:
    ids: list[str] = []
    for sku in names(raw):
        try:
            product = catalog.product_by_sku(conn, service_id, sku)
        except NotFound:
            raise FormError(
                "scope_skus", _("No product with SKU %(sku)s in this service.") % {"sku": sku}
            ) from None
        ids.append(str(product.id))
    return ids


def policy_draft(
    conn: Connection, service_id: UUID, code: str, timezone: str, posted: Posted, _: Gettext
) -> Draft:
    """The policy form as a name, a budget and the rule JSON (a bad field: FormError)."""
    scope_kind = posted.get("scope_kind") or "catalog"
    if scope_kind == "products":
        ids = _skus(conn, service_id, posted.get("scope_skus"), _)
    elif scope_kind == "categories":
        ids = list(dict.fromkeys(posted.lists.get("scope_menus", [])))
    else:
        ids = []
    effect_kind = posted.get("effect_kind")
    effect: dict[str, Any] = {"kind": effect_kind}
    if effect_kind == "percent_off":
        effect["value"] = percent_bp(posted.get("effect_percent"), _, "effect_percent")
    elif effect_kind in ("amount_off", "fixed_price"):
        effect["value"] = money(
            posted.get("effect_amount"), code, _, "effect_amount", zero=effect_kind == "fixed_price"
        )
    elif effect_kind == "buy_n_get_m":
        effect["buy"] = whole(posted.get("effect_buy"), _, "effect_buy")
        effect["get"] = whole(posted.get("effect_get"), _, "effect_get")
    rule = {
        "scope": {"kind": scope_kind, "ids": ids},
        "conditions": {
            "grades": names(posted.get("grades")),
            "starts_at": local_time(posted.get("starts_at"), timezone, _, "starts_at"),
            "ends_at": local_time(posted.get("ends_at"), timezone, _, "ends_at"),
            "first_purchase": posted.checked("first_purchase"),
            "min_amount": money(posted.get("min_amount"), code, _, "min_amount", zero=True) or 0,
            "min_quantity": _or(whole(posted.get("min_quantity"), _, "min_quantity"), 1),
        },
        "effect": effect,
        "priority": _or(whole(posted.get("priority"), _, "priority"), 0),
        "stacking": posted.get("stacking") or "exclusive",
        "uses_per_member": whole(posted.get("uses_per_member"), _, "uses_per_member"),
    }
    return Draft(_name(posted, _), _budget(posted, code, _), rule)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def policy_values(
    name: str, budget: int | None, rule: DiscountRule, skus: Mapping[UUID, str], code: str,
    timezone: str,
) -> dict[str, str]:  # fmt: skip
    """The policy form's fields as the page shows them for a saved policy."""
    c, e = rule.conditions, rule.effect
    return {
        "name": name,
        "budget": major(budget, code),
        "scope_kind": rule.scope.kind,
        "scope_skus": ", ".join(sorted(skus.get(i, str(i)) for i in rule.scope.ids))
        if rule.scope.kind == "products"
        else "",
        "grades": ", ".join(sorted(c.grades)),
        "starts_at": shown_time(c.starts_at, timezone),
        "ends_at": shown_time(c.ends_at, timezone),
        "first_purchase": "on" if c.first_purchase else "",
        "min_amount": major(c.min_amount, code) if c.min_amount else "",
        "min_quantity": str(c.min_quantity),
        "effect_kind": e.kind,
        "effect_percent": bp_text(e.value) if e.kind == "percent_off" else "",
        "effect_amount": major(e.value, code) if e.kind in ("amount_off", "fixed_price") else "",
        "effect_buy": str(e.buy) if e.kind == "buy_n_get_m" else "",
        "effect_get": str(e.get) if e.kind == "buy_n_get_m" else "",
        "priority": str(rule.priority),
        "stacking": rule.stacking,
        "uses_per_member": "" if rule.uses_per_member is None else str(rule.uses_per_member),
    }


# --- events ----------------------------------------------------------------------------------

EVENT_DEFAULTS = {"priority": "0", "stacking": "stackable"}


def tier_rows(values: Mapping[str, str], tiers: int = 0) -> int:
    """How many tier rows the form shows: the tiers typed or saved, and spares."""
    typed = [i for i in range(MAX_TIERS) if any(values.get(f"tier_{f}_{i}") for f in _TIER_PARTS)]
    used = max(tiers, (max(typed) + 1) if typed else 0)
    return min(MAX_TIERS, max(3, used + SPARE_TIERS))


_TIER_PARTS = ("min", "percent", "fixed")


def event_draft(code: str, timezone: str, posted: Posted, _: Gettext) -> Draft:
    """The event form as a name, a budget and the rule JSON (a bad field: FormError)."""
    tiers: list[dict[str, Any]] = []
    rows: list[int] = []
    for row in range(MAX_TIERS):
        raw = {part: posted.get(f"tier_{part}_{row}") for part in _TIER_PARTS}
        if not any(v.strip() for v in raw.values()):
            continue
        tiers.append(
            {
                "min_amount": money(raw["min"], code, _, f"tier_min_{row}", zero=True) or 0,
                "percent_bp": percent_bp(raw["percent"], _, f"tier_percent_{row}") or 0,
                "fixed": money(raw["fixed"], code, _, f"tier_fixed_{row}", zero=True) or 0,
            }
        )
        rows.append(row)
    rule = {
        "tiers": tiers,
        "methods": list(dict.fromkeys(posted.lists.get("methods", []))),
        "grades": names(posted.get("grades")),
        "first_charge": posted.checked("first_charge"),
        "starts_at": local_time(posted.get("starts_at"), timezone, _, "starts_at"),
        "ends_at": local_time(posted.get("ends_at"), timezone, _, "ends_at"),
        "per_member_limit": whole(posted.get("per_member_limit"), _, "per_member_limit"),
        "bonus_days": whole(posted.get("bonus_days"), _, "bonus_days"),
        "priority": _or(whole(posted.get("priority"), _, "priority"), 0),
        "stacking": posted.get("stacking") or "stackable",
    }
    return Draft(_name(posted, _), _budget(posted, code, _), rule, tuple(rows))


def event_values(
    name: str, budget: int | None, rule: EventRule, code: str, timezone: str
) -> dict[str, str]:
    """The event form's fields as the page shows them for a saved event."""
    values = {
        "name": name,
        "budget": major(budget, code),
        "grades": ", ".join(sorted(rule.grades)),
        "first_charge": "on" if rule.first_charge else "",
        "starts_at": shown_time(rule.starts_at, timezone),
        "ends_at": shown_time(rule.ends_at, timezone),
        "per_member_limit": "" if rule.per_member_limit is None else str(rule.per_member_limit),
        "bonus_days": "" if rule.bonus_days is None else str(rule.bonus_days),
        "priority": str(rule.priority),
        "stacking": rule.stacking,
    }
    for row, tier in enumerate(rule.tiers):
        values[f"tier_min_{row}"] = major(tier.min_amount, code)
        values[f"tier_percent_{row}"] = bp_text(tier.percent_bp) if tier.percent_bp else ""
        values[f"tier_fixed_{row}"] = major(tier.fixed, code) if tier.fixed else ""
    return values


# --- refusals of the rule, placed on the form ------------------------------------------------

_POLICY_FIELDS = {
    "scope.kind": "scope_kind",
    "conditions.grades": "grades",
    "conditions.starts_at": "starts_at",
    "conditions.ends_at": "ends_at",
    "conditions.first_purchase": "first_purchase",
    "conditions.min_amount": "min_amount",
    "conditions.min_quantity": "min_quantity",
    "effect.kind": "effect_kind",
    "effect.buy": "effect_buy",
    "effect.get": "effect_get",
}
_TIER_FIELD = re.compile(r"tiers\[(\d+)\]\.(min_amount|percent_bp|fixed)")
_TIER_NAMES = {"min_amount": "min", "percent_bp": "percent", "fixed": "fixed"}


def form_field(json_field: str, draft: Draft) -> str:
    """The form field a rule refusal's ``details["field"]`` is about."""
    if json_field == "scope.ids":
        kind = draft.rule.get("scope", {}).get("kind")
        return "scope_menus" if kind == "categories" else "scope_skus"
    if json_field == "effect.value":
        kind = draft.rule.get("effect", {}).get("kind")
        return "effect_percent" if kind == "percent_off" else "effect_amount"
    matched = _TIER_FIELD.fullmatch(json_field)
    if matched:
        index = int(matched.group(1))
        row = draft.tier_rows[index] if index < len(draft.tier_rows) else index
        return f"tier_{_TIER_NAMES[matched.group(2)]}_{row}"
    return _POLICY_FIELDS.get(json_field, json_field or "form")


def explain_field(field: str, _: Gettext) -> str | None:
    """A sentence for a refused rule field (None: use the rule's own words)."""
    if field.startswith("tier_percent_"):
        return _("A tier gives a percentage, a fixed bonus or both (a percentage at most 100).")
    if field.startswith(("tier_min_", "tier_fixed_")):
        return _("Enter an amount of 0 or more.")
    sentences = {
        "scope_kind": _("Choose one of the options."),
        "scope_skus": _("List the SKUs of the products (none for the whole catalog)."),
        "scope_menus": _("Tick at least one menu (none for the whole catalog)."),
        "grades": _("List grades of 1 to 40 characters, separated by commas."),
        "starts_at": _("Enter a date and time as YYYY-MM-DDTHH:MM."),
        "ends_at": _("The end must be after the start."),
        "min_amount": _("Enter an amount of 0 or more."),
        "min_quantity": _("Enter a whole number from 1 to 10000."),
        "effect_kind": _("Choose one of the options."),
        "effect_percent": _("Enter a percentage above 0 and at most 100."),
        "effect_amount": _("Enter an amount."),
        "effect_buy": _("Enter a whole number from 1 to 1000."),
        "effect_get": _("Enter a whole number from 1 to 1000."),
        "priority": _("Enter a whole number from 0 to 1000."),
        "stacking": _("Choose one of the options."),
        "uses_per_member": _("Enter a whole number from 1, or leave it empty."),
        "per_member_limit": _("Enter a whole number from 1, or leave it empty."),
        "bonus_days": _("Enter a whole number of days from 1 to 3660, or leave it empty."),
        "tiers": _("Give 1 to 20 tiers, each starting at a different amount."),
        "methods": _("Choose among the payment methods shown."),
    }
    return sentences.get(field)


def posted_lists(form: Sequence[tuple[str, Any]], list_fields: Sequence[str]) -> Posted:
    """A :class:`Posted` from the form's (name, value) pairs."""
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in list_fields}
    for key, value in form:
        if not isinstance(value, str):
            continue
        if key in lists:
            lists[key].append(value)
        else:
            values[key] = value
    return Posted(values, lists)
