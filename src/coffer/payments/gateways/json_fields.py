"""Strict readers for a PG's JSON replies, shared by the wire modules.

Each reader raises :class:`WireError` when a value is not exactly what the PG documents; the
adapter turns that into :class:`Unknown` (never into a decline). Amounts must be JSON integers: a
float, a string or a bool is a broken reply, never something to round.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any


class WireError(ValueError):
    """The reply does not have the documented shape."""


def json_object(value: object, what: str, kind: str | None = None) -> dict[str, Any]:
    """``value`` as a JSON object; with ``kind``, its ``object`` field must name it (Stripe)."""
    if not isinstance(value, dict):
        raise WireError(f"{what} is not a JSON object")
    if kind is not None and value.get("object") != kind:
        raise WireError(f"{what} is not a {kind!r} object (object={value.get('object')!r})")
    return value


def objects(value: object, what: str, item: str) -> Iterator[dict[str, Any]]:
    """The entries of a JSON list of objects, each checked as it is reached.

    ``what`` names the list and ``item`` one entry in errors; a non-list raises at once.
    """
    if not isinstance(value, list):
        raise WireError(f"{what} is not a list")
    return (json_object(entry, item) for entry in value)


def string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{key!r} is not a non-empty string")
    return value


def optional_string(obj: dict[str, Any], key: str) -> str | None:
    """A string, or None for a missing, null or empty value."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WireError(f"{key!r} is not a string or null")
    return value


def text(obj: dict[str, Any], key: str, default: str = "") -> str:
    """A free-text field (a message, a reason) read leniently: ``default`` unless a string."""
    value = obj.get(key)
    return value if isinstance(value, str) else default


def integer(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{key!r} is not an integer")
    return value


def optional_integer(obj: dict[str, Any], key: str) -> int | None:
    return None if obj.get(key) is None else integer(obj, key)


def boolean(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise WireError(f"{key!r} is not a boolean")
    return value


def iso_time(obj: dict[str, Any], key: str, naive_zone: tzinfo | None = None) -> datetime:
    """An ISO 8601 time. It must carry an offset, unless ``naive_zone`` says how to read one
    without (Toss's webhook ``createdAt``)."""
    value = string(obj, key)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WireError(f"{key!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is not None:
        return moment
    if naive_zone is None:
        raise WireError(f"{key!r} has no UTC offset")
    return moment.replace(tzinfo=naive_zone)


def unix_time(obj: dict[str, Any], key: str) -> datetime:
    """Unix seconds (a non-negative JSON integer), as a UTC time."""
    seconds = integer(obj, key)
    if seconds < 0:
        raise WireError(f"{key!r} is a negative timestamp")
    return datetime.fromtimestamp(seconds, UTC)
