"""Pure rules for admin accounts and sessions: emails, passwords, lock-out, session expiry."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from coffer.admins.permissions import ROLES
from coffer.kernel.errors import InvalidInput
from coffer.kernel.text import is_storable_text

STATUSES = ("active", "disabled")

PASSWORD_MIN = 10
#: Longer passwords are refused: argon2 would hash them, but nobody types 1 KB at a login form.
PASSWORD_MAX = 1024
EMAIL_MAX = 254

#: After this many consecutive failed sign-ins an account is locked for ``LOCK_DURATION``.
MAX_FAILED_ATTEMPTS = 5
LOCK_DURATION = timedelta(minutes=15)

#: A session ends after this long without a request, and in any case this long after sign-in.
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


@dataclass(frozen=True, slots=True)
class AdminUser:
    id: UUID
    email: str
    role: str
    status: str
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class AdminSession:
    """A live session joined with its admin (as of this request)."""

    id: UUID
    admin: AdminUser
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: ``token`` goes into the cookie and is never stored."""

    id: UUID
    token: str
    csrf_token: str
    expires_at: datetime


def normalize_email(email: str) -> str:
    """Lower-cased, trimmed email; an invalid one is an input error."""
    value = email.strip().lower() if isinstance(email, str) else ""
    if len(value) > EMAIL_MAX or not is_storable_text(value) or not _EMAIL.match(value):
        raise InvalidInput("invalid_email", "Give a valid email address.")
    return value


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("invalid_role", f"role must be one of {', '.join(ROLES)}.")
    return role


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise InvalidInput("weak_password", f"A password needs at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX or not is_storable_text(password):
        raise InvalidInput("invalid_password", "The password has characters that are not allowed.")
    return password


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def after_failure(failed_attempts: int, now: datetime) -> tuple[int, datetime | None]:
    """(failed attempts, locked until) after one more failed sign-in.

    The fifth consecutive failure locks the account and starts the count again, so after the
    lock ends there are another five tries.
    """
    attempts = failed_attempts + 1
    if attempts >= MAX_FAILED_ATTEMPTS:
        return 0, now + LOCK_DURATION
    return attempts, None


def session_end(created_at: datetime, last_seen_at: datetime) -> datetime:
    """When a session stops being valid if no further request comes."""
    return min(created_at + SESSION_ABSOLUTE, last_seen_at + SESSION_IDLE)


def new_token() -> str:
    """256 random bits, URL-safe (session cookies and CSRF tokens)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Session tokens are random, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return bool(given) and secrets.compare_digest(str(given).encode(), expected.encode())
