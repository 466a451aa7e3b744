"""Timestamped HMAC signatures on raw bodies: ``t=<unix>,v1=<hex HMAC-SHA256>``.

The scheme of Coffer's outgoing webhooks and of the sandbox PG's (both in Stripe's style):
``v1`` is the lowercase hex ``HMAC-SHA256(key=secret, msg=f"{t}.".encode() + raw_body)``.
A receiver verifies the raw bytes before parsing them (the same JSON serialised differently is
refused), refuses a ``t`` further than a tolerance from its clock (no replays later), and accepts
any matching ``v1`` (several may appear while a secret is rotated), comparing every candidate in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature_hex(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value for ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The whole header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={signature_hex(secret, timestamp, body)}"


def problem(
    secret: str,
    header: str | None,
    body: bytes,
    now_seconds: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> str | None:
    """Why ``header`` does not sign ``body`` with ``secret`` recently, or None if it does."""
    if not header:
        return "The signature header is missing."
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not (value.isascii() and value.isdigit()):
                return "The signature timestamp is not an integer."
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return "The signature header lacks a timestamp or a v1 signature."
    if abs(now_seconds - timestamp) > tolerance:
        return "The signature is stale."
    expected = signature_hex(secret, timestamp, body).encode()
    matched = False
    for candidate in candidates:  # compare every one: the time taken tells nothing
        matched |= hmac.compare_digest(expected, candidate.encode())
    return None if matched else "The signature does not match."
