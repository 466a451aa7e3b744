"""Fault injection state: what the admin asked the sandbox to get wrong."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.times import parse_moment, rfc3339

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class SettlementFaults:
    wrong_amounts: int = 0
    missing: int = 0
    extra: int = 0


@dataclass(frozen=True, slots=True)
class Faults:
    latency_ms: int = 0
    error_rate_ppm: int = 0  # parts per million
    timeout_after_approval: bool = False
    duplicate_webhooks: int = 0
    out_of_order_webhooks: bool = False
    outage: tuple[datetime, datetime] | None = None
    settlement: SettlementFaults = field(default_factory=SettlementFaults)
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        rate = Decimal(self.error_rate_ppm) / PPM
        return {
            "latency_ms": self.latency_ms,
            "error_rate": format(rate.normalize(), "f"),
            "timeout_after_approval": self.timeout_after_approval,
            "duplicate_webhooks": self.duplicate_webhooks,
            "out_of_order_webhooks": self.out_of_order_webhooks,
            "outage": None
            if self.outage is None
            else {"start": rfc3339(self.outage[0]), "end": rfc3339(self.outage[1])},
            "settlement": {
                "wrong_amounts": self.settlement.wrong_amounts,
                "missing": self.settlement.missing,
                "extra": self.settlement.extra,
            },
            "seed": self.seed,
        }


class FaultBox:
    """The current faults and the seeded randomness they draw from; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._rng = random.Random(0)

    @property
    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def update(self, body: object) -> tuple[Faults, Faults]:
        """Apply the given fields; return (before, after)."""
        if not isinstance(body, dict):
            raise PgError("INVALID_REQUEST", "body must be a JSON object")
        unknown = set(body) - set(_PARSERS)
        if unknown:
            raise PgError(
                "INVALID_REQUEST", f"unknown fault field(s): {', '.join(sorted(unknown))}"
            )
        changes = {_PARSERS[name][0]: _PARSERS[name][1](value) for name, value in body.items()}
        with self._lock:
            before = self._faults
            after = replace(before, **changes)
            self._faults = after
            if "seed" in changes:
                self._rng = random.Random(after.seed)
        return before, after

    def clear(self) -> Faults:
        with self._lock:
            before = self._faults
            self._faults = Faults()
            self._rng = random.Random(0)
        return before

    def draw_error(self) -> bool:
        with self._lock:
            rate = self._faults.error_rate_ppm
            if rate == 0:
                return False
            return self._rng.randrange(PPM) < rate

    def in_outage(self, now: datetime) -> bool:
        outage = self.current.outage
        return outage is not None and outage[0] <= now < outage[1]


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise PgError("INVALID_REQUEST", f"{name} must be a non-negative integer")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise PgError("INVALID_REQUEST", f"{name} must be true or false")
    return value


def _rate(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PgError("INVALID_REQUEST", "error_rate must be a number from 0 to 1")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise PgError("INVALID_REQUEST", "error_rate must be a number from 0 to 1") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise PgError("INVALID_REQUEST", "error_rate must be a number from 0 to 1")
    return int(rate * PPM)


def _outage(value: object) -> tuple[datetime, datetime] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise PgError("INVALID_REQUEST", 'outage must be {"start", "end"} or null')
    start = parse_moment(value["start"], "outage.start")
    end = parse_moment(value["end"], "outage.end")
    if end <= start:
        raise PgError("INVALID_REQUEST", "outage.end must be after outage.start")
    return start, end


def _settlement(value: object) -> SettlementFaults:
    if value is None:
        return SettlementFaults()
    fields = {"wrong_amounts", "missing", "extra"}
    if not isinstance(value, dict) or not set(value) <= fields:
        raise PgError("INVALID_REQUEST", "settlement takes wrong_amounts, missing and extra")
    return SettlementFaults(
        **{name: _count(count, f"settlement.{name}") for name, count in value.items()}
    )


#: Request field → (Faults attribute, parser).
_PARSERS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "latency_ms": ("latency_ms", lambda v: _count(v, "latency_ms")),
    "error_rate": ("error_rate_ppm", _rate),
    "timeout_after_approval": (
        "timeout_after_approval",
        lambda v: _flag(v, "timeout_after_approval"),
    ),
    "duplicate_webhooks": ("duplicate_webhooks", lambda v: _count(v, "duplicate_webhooks")),
    "out_of_order_webhooks": (
        "out_of_order_webhooks",
        lambda v: _flag(v, "out_of_order_webhooks"),
    ),
    "outage": ("outage", _outage),
    "settlement": ("settlement", _settlement),
    "seed": ("seed", lambda v: _count(v, "seed")),
}
