"""Reading the desk's HTML forms: every field either parses exactly or is a :class:`FormError`.

Amounts are typed in the currency's major unit ("1000" won, "12.34" dollars) and turned into
minor units exactly: thousands separators, signs, exponents or more decimals than the currency
has are errors shown on the form, never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT, currency, parse_amount
from coffer.kernel.text import is_storable_text

Gettext = Callable[[str], str]

REASON_MAX = 500
_DECIMAL = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)


class FormError(Exception):
    """One field's error, already in the reader's language."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class FormState:
    """What a form shows again after an error: the values typed and the errors by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failed(cls, values: Mapping[str, Any], error: FormError) -> FormState:
        kept = {k: v for k, v in values.items() if isinstance(v, str) and k != "csrf_token"}
        return cls(kept, {error.field: error.message})


def text(values: Mapping[str, Any], name: str) -> str:
    """A form field as a string ('' when absent; uploaded files are not accepted)."""
    value = values.get(name, "")
    return value if isinstance(value, str) else ""


def amount(raw: str, currency_code: str, _: Gettext, *, name: str = "amount") -> int:
    """Minor units of a decimal amount typed in the major unit of ``currency_code``."""
    exponent = currency(currency_code).exponent
    value = raw.strip()
    if not value:
        raise FormError(name, _("Enter an amount."))
    match = _DECIMAL.fullmatch(value)
    if match is None:
        if exponent == 0:
            message = _("Enter a whole number of won/yen, digits only (no commas or signs).")
        else:
            message = _("Enter digits with at most %(digits)s decimals (no commas or signs).") % {
                "digits": exponent
            }
        raise FormError(name, message)
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        if exponent == 0:
            message = _("This currency has no decimals: enter a whole number.")
        else:
            message = _("This currency has at most %(digits)s decimals.") % {"digits": exponent}
        raise FormError(name, message)
    if len(whole) > len(str(MAX_AMOUNT)):
        raise FormError(name, _("The amount is too large."))
    minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    try:
        return parse_amount(minor, field=name)
    except InvalidInput:
        message = _("The amount is too large.") if minor else _("The amount must be above zero.")
        raise FormError(name, message) from None


def optional_amount(raw: str, currency_code: str, _: Gettext, *, name: str) -> int | None:
    return None if not raw.strip() else amount(raw, currency_code, _, name=name)


def reason(raw: str, _: Gettext, *, name: str = "reason") -> str:
    """A required reason of at most ``REASON_MAX`` characters."""
    value = raw.strip()
    if not value:
        raise FormError(name, _("A reason is required."))
    if len(value) > REASON_MAX:
        raise FormError(
            name, _("Keep the reason to %(max)s characters or fewer.") % {"max": REASON_MAX}
        )
    if not is_storable_text(value, multiline=True):
        raise FormError(name, _("The reason contains characters that are not allowed."))
    return value


def choice(raw: str, allowed: tuple[str, ...], _: Gettext, *, name: str) -> str:
    if raw not in allowed:
        raise FormError(name, _("Choose one of the options."))
    return raw


def object_id(raw: str, _: Gettext, *, name: str) -> UUID:
    try:
        return UUID(raw.strip())
    except ValueError:
        raise FormError(name, _("This is not a valid identifier.")) from None


def day(raw: str, _: Gettext, *, name: str) -> date | None:
    """An optional calendar date (YYYY-MM-DD, what date inputs send)."""
    value = raw.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(name, _)
    except ValueError:
        return _bad_date(name, _)


def _bad_date(name: str, _: Gettext) -> date:
    raise FormError(name, _("Enter a date as YYYY-MM-DD."))


def end_of_day(last_day: date, timezone: str) -> datetime:
    """The moment cash valid through ``last_day`` (in the service's zone) expires."""
    return datetime.combine(last_day + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))
