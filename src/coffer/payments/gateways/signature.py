"""Verifying the sandbox PG's webhook signatures (the kernel's ``t=…,v1=…`` scheme).

Verified on the raw bytes, before any parsing: the same JSON serialised differently is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from coffer.kernel.signatures import SCHEME, problem, sign, signature_hex
from coffer.payments.gateways.port import InvalidWebhook

T = TypeVar("T")

#: A signature older (or further in the future) than this is refused.
TOLERANCE_SECONDS = 300

__all__ = ["SCHEME", "TOLERANCE_SECONDS", "sign", "signature_hex", "verified_event", "verify"]


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Return if ``header`` signs ``body`` with ``secret`` recently; else raise InvalidWebhook."""
    why = problem(secret, header, body, now.timestamp(), tolerance)
    if why is not None:
        raise InvalidWebhook(why)


def verified_event(
    secret: str,
    header: str | None,
    body: bytes,
    now: datetime,
    read: Callable[[object], T],
    what: str,
) -> T:
    """:func:`verify` the raw bytes, then ``read`` the JSON body.

    A body that is not JSON, or that ``read`` cannot read, raises InvalidWebhook naming ``what``.
    """
    verify(secret, header, body, now)
    try:
        return read(json.loads(body))
    except ValueError as exc:  # json's errors and WireError are ValueErrors
        raise InvalidWebhook(f"The webhook body is not {what}: {exc}") from exc
