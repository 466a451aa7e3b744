"""Money rules: amounts are ints in a currency's minor unit; never floats.

An amount arriving from outside is validated by :func:`parse_amount`; anything that is not a
plain integer (a float, a string, a bool), is out of range, or is not positive where it must be
is an input error, never something to round.
"""

from __future__ import annotations

from dataclasses import dataclass

from coffer.kernel.errors import InvalidInput

#: Largest amount accepted from outside: 2**53, the largest integer every JSON client keeps exact.
MAX_AMOUNT = 2**53

#: ISO 4217 minor-unit exponents for the currencies a service may use.
CURRENCY_EXPONENTS: dict[str, int] = {
    "KRW": 0,
    "JPY": 0,
    "VND": 0,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CNY": 2,
    "HKD": 2,
    "SGD": 2,
    "THB": 2,
    "PHP": 2,
    "IDR": 2,
    "MYR": 2,
    "AUD": 2,
    "CAD": 2,
    "KWD": 3,
    "BHD": 3,
}


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int


def currency(code: str) -> Currency:
    """Return the currency for an ISO 4217 code, or raise ``unsupported_currency``."""
    normalized = code.strip().upper() if isinstance(code, str) else ""
    if normalized not in CURRENCY_EXPONENTS:
        raise InvalidInput(
            "unsupported_currency",
            f"Currency {code!r} is not supported.",
            {"supported": sorted(CURRENCY_EXPONENTS)},
        )
    return Currency(normalized, CURRENCY_EXPONENTS[normalized])


def parse_amount(value: object, *, field: str = "amount", allow_zero: bool = False) -> int:
    """Validate an amount in minor units given by a caller and return it as an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            "invalid_amount",
            f"{field} must be an integer number of minor units (no decimals, no strings).",
            {"field": field},
        )
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(
            "invalid_amount",
            f"{field} must be {'zero or more' if allow_zero else 'greater than zero'}.",
            {"field": field},
        )
    if value > MAX_AMOUNT:
        raise InvalidInput(
            "invalid_amount", f"{field} must not exceed {MAX_AMOUNT}.", {"field": field}
        )
    return value


def format_minor(amount: int, cur: Currency) -> str:
    """Render minor units as a decimal string, e.g. 1234 USD -> '12.34'."""
    if cur.exponent == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**cur.exponent)
    return f"{sign}{whole}.{frac:0{cur.exponent}d}"
