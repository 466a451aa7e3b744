"""Pure tenancy rules: API key format and hashing, time zones, the records."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coffer.kernel.errors import InvalidInput
from coffer.kernel.text import is_storable_text

#: API keys look like ``ck_<12 hex prefix>_<43 url-safe secret chars>``; only the prefix is
#: stored in clear (to find the key), the whole key is stored as a SHA-256 digest. Keys carry
#: 256 bits of randomness, so a fast hash is enough (no password stretching needed).
KEY_PREFIX = "ck_"

EXTERNAL_ID_MAX = 128


@dataclass(frozen=True, slots=True)
class Service:
    id: UUID
    name: str
    currency: str
    timezone: str
    consumption_order: str
    webhook_url: str | None
    created_at: datetime
    #: Admin grants of at least this amount need a second admin's approval (None: never).
    grant_approval_threshold: int | None = None
    #: Refunding a charge that earned event bonus: ``pro_rata`` claws the bonus back in
    #: proportion (what is left of it), ``block`` refuses while the member has spent it.
    bonus_refund: str = "pro_rata"

    def grant_needs_approval(self, amount: int) -> bool:
        threshold = self.grant_approval_threshold
        return threshold is not None and amount >= threshold


@dataclass(frozen=True, slots=True)
class Member:
    id: UUID
    service_id: UUID
    external_id: str
    grade: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: UUID
    prefix: str
    plaintext: str


def generate_api_key() -> tuple[str, str]:
    """Return ``(prefix, plaintext)`` of a fresh key."""
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def split_api_key(presented: str) -> str | None:
    """Return the prefix of a well-formed key, or None."""
    if not presented.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_matches(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(plaintext), stored_hash)


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput(
            "invalid_timezone", f"{name!r} is not an IANA time zone name."
        ) from error
    return name


def validate_external_id(external_id: object) -> str:
    if (
        not isinstance(external_id, str)
        or not external_id
        or len(external_id) > EXTERNAL_ID_MAX
        or external_id != external_id.strip()
        or "/" in external_id
        or not is_storable_text(external_id)
    ):
        raise InvalidInput(
            "invalid_external_id",
            f"external_id must be 1-{EXTERNAL_ID_MAX} printable characters, without '/' "
            "(it appears in URL paths) or surrounding spaces.",
        )
    return external_id


WEBHOOK_URL_MAX = 2048
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def validate_webhook_url(url: object) -> str:
    """An absolute http(s) URL with a host; non-ASCII hosts must come in IDNA (xn--) form."""
    message = f"url must be an absolute http or https URL of at most {WEBHOOK_URL_MAX} characters."
    if not isinstance(url, str) or len(url) > WEBHOOK_URL_MAX or not url.isascii():
        raise InvalidInput("invalid_url", message)
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or not url.isprintable() or " " in url:
        raise InvalidInput("invalid_url", message)
    return url


def new_webhook_secret() -> str:
    """A fresh signing secret for outgoing webhooks (shown once, stored for signing)."""
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
