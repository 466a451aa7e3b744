"""Pure rules of the audit log: the canonical form of a row and its hash, the records.

The hash of a row is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of every
field except ``hash`` itself, ``prev_hash`` included. ``before``/``after`` hold JSON values only:
UUIDs, datetimes and Decimals are turned into strings when recorded, and floats are refused
(no float money anywhere, and floats do not survive a JSON round trip exactly).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from coffer.kernel.errors import InvalidInput

#: ``prev_hash`` of the first row of a chain.
GENESIS = "0" * 64

#: The fields the hash covers, in no particular order (the JSON is key-sorted).
HASHED_FIELDS = (
    "id",
    "seq",
    "at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "service_id",
    "before",
    "after",
    "reason",
    "address",
    "prev_hash",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: UUID
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    service_id: UUID | None
    before: Any
    after: Any
    reason: str
    address: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first row where the chain does not hold; ``id`` is None when the row is missing."""

    seq: int
    id: UUID | None
    why: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Entries newest first; ``next_before_seq`` fetches the following (older) page."""

    entries: list[AuditEntry]
    next_before_seq: int | None


def to_json_value(value: Any, *, field: str = "value") -> Any:
    """``value`` as plain JSON data (dict keys as strings); floats are an input error."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise InvalidInput(
            "invalid_audit_value", f"{field}: floats are not allowed in the audit log."
        )
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, dict):
        return {str(key): to_json_value(item, field=field) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_json_value(item, field=field) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise InvalidInput(
        "invalid_audit_value", f"{field}: {type(value).__name__} cannot be stored in the audit log."
    )


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidInput("invalid_audit_value", "naive datetime given to the audit log")
    return moment.astimezone(UTC).isoformat()


def canonical(fields: dict[str, Any]) -> bytes:
    """The canonical JSON of a row's hashed fields."""
    values = {
        "id": str(fields["id"]),
        "seq": int(fields["seq"]),
        "at": _timestamp(fields["at"]),
        "actor": fields["actor"],
        "action": fields["action"],
        "target_type": fields["target_type"],
        "target_id": fields["target_id"],
        "service_id": None if fields["service_id"] is None else str(fields["service_id"]),
        "before": fields["before"],
        "after": fields["after"],
        "reason": fields["reason"],
        "address": fields["address"],
        "prev_hash": fields["prev_hash"],
    }
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def row_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()
