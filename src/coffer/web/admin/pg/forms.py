"""Reading the PG pages' forms: contract fields, method terms in percent, limits in major units.

Secrets are read but never kept for showing again: :func:`failed_form` drops them, so a form
shown again after an error never carries a secret back to the browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from coffer.payments.commissions import BASIS, MethodTerms
from coffer.payments.limits import ChargeLimits
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, text

#: Form fields that hold secrets: read once, never rendered back.
SECRET_FIELDS = ("secret_key", "webhook_secret")

_PERCENT = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?", re.ASCII)


def failed_form(values: Mapping[str, Any], error: FormError) -> FormState:
    """The form to show again with its error, without any secret that was typed."""
    state = FormState.failed(values, error)
    for name in SECRET_FIELDS:
        state.values.pop(name, None)
    return state


def contract_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The contract form's fields as the use cases take them (validated there)."""
    return {
        "name": text(values, "name"),
        "merchant_id": text(values, "merchant_id"),
        "base_url": text(values, "base_url").strip() or None,
        "client_key": text(values, "client_key"),
    }


def percent_as_bp(raw: str, _: Gettext, *, name: str = "commission_rate") -> int:
    """A rate typed in percent with at most two decimals ("2.5") as basis points (250)."""
    match = _PERCENT.fullmatch(raw.strip())
    if match is None:
        raise FormError(name, _("Enter a percentage such as 2.5 (at most two decimals)."))
    basis_points = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))
    if basis_points > BASIS:
        raise FormError(name, _("A rate cannot be above 100%."))
    return basis_points


def bp_as_percent(basis_points: int) -> str:
    """250 -> "2.5", 300 -> "3", 5 -> "0.05": the rate as an admin types it."""
    whole, hundredths = divmod(basis_points, 100)
    return f"{whole}.{hundredths:02d}".rstrip("0").rstrip(".")


def fee(raw: str, currency_code: str, _: Gettext, *, name: str) -> int:
    """A fee in the major unit; empty or zero is no fee."""
    value = raw.strip()
    if not value or value.strip("0") == "":
        return 0
    return forms.amount(value, currency_code, _, name=name)


def method_terms(values: Mapping[str, Any], currency_code: str, _: Gettext) -> MethodTerms:
    return MethodTerms(
        enabled=text(values, "enabled") == "on",
        commission_bp=percent_as_bp(text(values, "commission_rate"), _),
        fixed_fee=fee(text(values, "fixed_fee"), currency_code, _, name="fixed_fee"),
        min_fee=fee(text(values, "min_fee"), currency_code, _, name="min_fee"),
    )


def charge_limits(values: Mapping[str, Any], currency_code: str, _: Gettext) -> ChargeLimits:
    def optional(name: str) -> int | None:
        return forms.optional_amount(text(values, name), currency_code, _, name=name)

    step = text(values, "amount_step").strip()
    return ChargeLimits(
        min_amount=forms.amount(text(values, "min_amount"), currency_code, _, name="min_amount"),
        max_amount=optional("max_amount"),
        amount_step=1 if not step else forms.amount(step, currency_code, _, name="amount_step"),
        per_member_day=optional("per_member_day"),
        per_member_month=optional("per_member_month"),
    )
