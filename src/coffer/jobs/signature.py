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

from datetime import datetime

from coffer.kernel.signatures import DEFAULT_TOLERANCE_SECONDS, SCHEME, problem, sign, signature_hex

SIGNATURE_HEADER = "Coffer-Signature"

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SCHEME",
    "SIGNATURE_HEADER",
    "sign",
    "signature_hex",
    "verify",
]


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
    now_seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    return problem(secret, header, body, now_seconds, tolerance) is None
