"""Checks of single values given to the catalog, each refusing with its own stable code.

Every check takes what a caller sent (``object``) and returns it cleaned, or raises
:class:`~coffer.kernel.errors.InvalidInput`. The API wraps the same checks around its body
fields (:mod:`coffer.api.catalog_bodies`), so a rule is written once.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from coffer.kernel.errors import InvalidInput
from coffer.kernel.text import is_storable_text

NAME_MAX = 200


def text(value: object, code: str, label: str, maximum: int, *, multiline: bool = False) -> str:
    """Text of 1 to ``maximum`` characters without outer spaces (trimmed) or control characters."""
    cleaned = value.strip() if isinstance(value, str) else ""
    if not cleaned or len(cleaned) > maximum or not is_storable_text(cleaned, multiline=multiline):
        raise InvalidInput(
            code,
            f"{label} must be text of 1 to {maximum} characters without control characters.",
            {"field": label},
        )
    return cleaned


def optional_text(value: object, code: str, label: str, maximum: int) -> str:
    """Multi-line text that may be empty (descriptions, contacts)."""
    if value == "":
        return ""
    return text(value, code, label, maximum, multiline=True)


def name(value: object, label: str) -> str:
    return text(value, "invalid_name", label, NAME_MAX)


def integer(value: object, code: str, label: str, low: int, high: int) -> int:
    """A plain integer from ``low`` to ``high``: no bools, floats or numeric strings."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            code, f"{label} must be an integer from {low} to {high}.", {"field": label}
        )
    return value


def flag(value: object, code: str, label: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(code, f"{label} must be true or false.", {"field": label})
    return value


def choice(value: object, code: str, label: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InvalidInput(code, f"{label} must be one of: {', '.join(options)}.", {"field": label})
    return value


def moment(value: object, code: str, label: str) -> datetime:
    """A timezone-aware instant (a naive one could mean any zone)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(
            code, f"{label} must be a date-time with a time zone offset.", {"field": label}
        )
    return value


def identifier(value: object, code: str, label: str) -> UUID:
    if not isinstance(value, UUID):
        raise InvalidInput(code, f"{label} must be an id.", {"field": label})
    return value
