"""Verifying the sandbox PG's webhook signatures (the kernel's ``t=…,v1=…`` scheme).

Verified on the raw bytes, before any parsing: the same JSON serialised differently is refused.
"""

from __future__ import annotations

from datetime import datetime

from coffer.kernel.signatures import SCHEME, problem, sign, signature_hex
from coffer.payments.gateways.port import InvalidWebhook

#: A signature older (or further in the future) than this is refused.
TOLERANCE_SECONDS = 300

__all__ = ["SCHEME", "TOLERANCE_SECONDS", "sign", "signature_hex", "verify"]


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
