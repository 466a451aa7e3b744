"""Signatures on outgoing webhooks, in the style of Stripe's ``Stripe-Signature``.

Every delivery carries (``v1`` shortened here; it is 64 hex digits)::

    Coffer-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa…

where ``t`` is the Unix time of the attempt and ``v1`` is the lowercase hex
``HMAC-SHA256(key=webhook_secret, msg=f"{t}.".encode() + raw_body)``. To verify, a receiver:

1. takes the raw request body bytes exactly as received (before any JSON parsing);
2. splits the header on ``,`` into ``key=value`` pairs, reading ``t`` and every ``v1``;
3. computes the HMAC above with its secret and compares it to each ``v1`` in constant time;
4. rejects the delivery if ``t`` is more than a tolerance (default 5 minutes) away from its own
   clock, which stops an intercepted delivery from being replayed later.

Several ``v1`` values may appear (e.g. while a secret is being rotated); one match is enough.
Deliveries are at least once: deduplicate on the ``Coffer-Event-Id`` header (the event ``id``).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "Coffer-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature_hex(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``f"{timestamp}."`` followed by the raw body."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The whole ``Coffer-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={signature_hex(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: datetime | float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its time is within ``tolerance``.

    ``now`` is a timezone-aware datetime or Unix seconds. Never raises on a malformed header.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    now_seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(now_seconds - timestamp) > tolerance:
        return False
    expected = signature_hex(secret, timestamp, body)
    matched = False
    for candidate in candidates:  # compare every one: the time taken tells nothing
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    return matched
