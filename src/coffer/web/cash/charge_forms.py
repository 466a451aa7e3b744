"""Reading the member's charge and refund forms, and refusals in the member's words.

Amounts are typed (or picked) in the currency's major unit and read exactly, as on the admin
desk (:func:`coffer.web.admin.desk.forms.amount`): no rounding, no separators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coffer.kernel.errors import CofferError
from coffer.kernel.money import currency, format_minor
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.formatting import money

#: The amounts offered as buttons, in the currency's major unit.
PRESETS = ("5000", "10000", "30000", "50000")


def presets(code: str) -> list[tuple[str, int]]:
    """The preset buttons: (what the form sends, the amount in minor units)."""
    exponent = currency(code).exponent
    return [(major, int(major) * 10**exponent) for major in PRESETS]


@dataclass(frozen=True, slots=True)
class ChargeOrder:
    """A charge the member asked for: minor units and a payment method."""

    amount: int
    method: str

    def major(self, code: str) -> str:
        """The amount as the form carries it (major units, no separators)."""
        return format_minor(self.amount, currency(code))


def charge_order(
    values: Mapping[str, Any], code: str, methods: list[str], _: Gettext
) -> ChargeOrder:
    """The amount (a typed ``other_amount`` wins over a picked ``amount``) and the method.

    ``methods``: those the service offers; any other is refused like a missing one.
    """
    raw = text(values, "other_amount").strip() or text(values, "amount")
    if not raw.strip():
        raise FormError("amount", _("Choose or enter an amount."))
    amount = forms.amount(raw, code, _)
    method = text(values, "method")
    if method not in methods:
        raise FormError("method", _("Choose a payment method."))
    return ChargeOrder(amount, method)


def refund_reason(values: Mapping[str, Any], _: Gettext) -> str:
    return forms.reason(text(values, "reason"), _)


#: Which field of the charge form a refusal of the charge belongs to.
CHARGE_ERROR_FIELDS = {
    "amount_below_minimum": "amount",
    "amount_above_maximum": "amount",
    "invalid_amount_step": "amount",
    "daily_charge_limit": "amount",
    "monthly_charge_limit": "amount",
    "invalid_amount": "amount",
    "method_not_offered": "method",
    "no_pg_available": "method",
    "invalid_method": "method",
}


def explain(error: CofferError, code: str, _: Gettext) -> str:
    """A refusal of a charge or a refund, in the member's words."""
    details = error.details

    def shown(name: str) -> str:
        value = details.get(name)
        return money(value, code) if isinstance(value, int) else ""

    known = {
        "amount_below_minimum": _("The smallest charge by this method is %(amount)s.")
        % {"amount": shown("min_amount")},
        "amount_above_maximum": _("The largest charge by this method is %(amount)s.")
        % {"amount": shown("max_amount")},
        "invalid_amount_step": _("The amount must be a multiple of %(amount)s.")
        % {"amount": shown("amount_step")},
        "daily_charge_limit": _("You can charge %(amount)s more by this method today.")
        % {"amount": shown("remaining")},
        "monthly_charge_limit": _("You can charge %(amount)s more by this method this month.")
        % {"amount": shown("remaining")},
        "method_not_offered": _("This payment method is not available."),
        "invalid_method": _("This payment method is not available."),
        "no_pg_available": _(
            "This payment method is not available right now. Try again in a minute, or choose "
            "another one."
        ),
        "member_suspended": _("You cannot charge cash now. Contact customer support."),
        "member_closed": _("You cannot charge cash now. Contact customer support."),
        "charge_not_refundable": _("This charge cannot be refunded."),
        "refund_exceeds_unspent": _("Nothing of this charge is left unspent to refund."),
        "refund_in_progress": _(
            "A refund of this charge is already being processed. Try again when it is done."
        ),
        "invalid_reason": _("Please tell us why (at most 500 characters)."),
    }
    return known.get(error.code, error.message)
