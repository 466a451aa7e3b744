"""Signed member links to the cash web: the pure rules (no I/O).

A service sends its member to
``/cash/enter?service=<id>&member=<external id>&ts=<unix seconds>&sig=<hex>`` where ``sig`` is
``HMAC-SHA256(key=<link secret as UTF-8 bytes>, msg=f"{service}.{member}.{ts}")`` in lowercase
hex. The message is built from the values exactly as they appear in the link (after URL
decoding). A link is good from 30 s before ``ts`` (clock skew) until 5 minutes after it;
signatures are compared in constant time. ``docs/cash-web.md`` is the service-facing version.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from uuid import UUID

from coffer.kernel.errors import Forbidden, InvalidInput
from coffer.tenancy.model import validate_external_id

#: How long a link stays good after its timestamp, and how far ahead a timestamp may be.
LINK_TTL_SECONDS = 300
LINK_FUTURE_SKEW_SECONDS = 30

ENTER_PATH = "/cash/enter"
_TS_MAX_DIGITS = 12
_SIG_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


def generate_link_secret() -> str:
    """A fresh secret: 64 hex characters (256 bits), used as-is (its text) as the HMAC key."""
    return secrets.token_hex(32)


def link_signature(secret: str, service: str, member: str, ts: int | str) -> str:
    message = f"{service}.{member}.{ts}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def build_link(base_url: str, secret: str, service_id: UUID, member: str, ts: int) -> str:
    """The full link for ``member`` signed at ``ts`` (what a service's own code does)."""
    service = str(service_id)
    query = urlencode(
        {
            "service": service,
            "member": member,
            "ts": ts,
            "sig": link_signature(secret, service, member, ts),
        }
    )
    return f"{base_url.rstrip('/')}{ENTER_PATH}?{query}"


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """A link's values, parsed but not yet verified."""

    service: str
    service_id: UUID
    member: str
    ts: int
    sig: str


def _malformed(detail: str) -> InvalidInput:
    return InvalidInput("link_malformed", f"The link is malformed: {detail}.")


def parse_link(params: dict[str, str]) -> LinkClaim:
    """Check the shape of each value; raise ``link_malformed`` for anything off."""
    values = {name: params.get(name, "") for name in ("service", "member", "ts", "sig")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise _malformed(f"missing {', '.join(missing)}")
    try:
        service_id = UUID(values["service"])
    except ValueError as error:
        raise _malformed("service is not an id") from error
    try:
        member = validate_external_id(values["member"])
    except InvalidInput as error:
        raise _malformed("member is not a valid external id") from error
    ts = values["ts"]
    if not (ts.isascii() and ts.isdigit()) or len(ts) > _TS_MAX_DIGITS:
        raise _malformed("ts is not a unix time in seconds")
    sig = values["sig"].lower()
    if len(sig) != _SIG_LENGTH or not set(sig) <= _HEX:
        raise _malformed("sig is not 64 hex characters")
    return LinkClaim(values["service"], service_id, member, int(ts), sig)


def verify_link(claim: LinkClaim, secret: str, now: datetime) -> None:
    """Raise ``link_signature_invalid``, ``link_expired`` or ``link_not_yet_valid``.

    The signature is checked first, so that only genuine links are told they expired.
    """
    expected = link_signature(secret, claim.service, claim.member, claim.ts)
    if not hmac.compare_digest(expected, claim.sig):
        raise Forbidden("link_signature_invalid", "The link's signature does not match.")
    age = now.timestamp() - claim.ts
    if age > LINK_TTL_SECONDS:
        raise Forbidden("link_expired", "The link has expired; open it again from the service.")
    if age < -LINK_FUTURE_SKEW_SECONDS:
        raise Forbidden("link_not_yet_valid", "The link's time is in the future.")
