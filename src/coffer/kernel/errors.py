"""The error tree. Every error a caller can cause has a stable machine code.

Entry points map the classes to transport status codes (HTTP 4xx, CLI exit codes); the domain
only chooses the class and the code.
"""

from __future__ import annotations

from typing import Any


class CofferError(Exception):
    """Base class: ``code`` is stable and machine-readable, ``message`` is for people."""

    status = 400

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class InvalidInput(CofferError):
    """The request is malformed or violates a rule about its own values."""

    status = 422


class NotFound(CofferError):
    """The object does not exist, or belongs to another service (never said apart)."""

    status = 404


class Conflict(CofferError):
    """The request clashes with current state (duplicate, wrong state, reused key)."""

    status = 409


class Unauthorized(CofferError):
    status = 401


class Forbidden(CofferError):
    status = 403


class RateLimited(CofferError):
    """Too many attempts in a short time (e.g. guessing coupon codes): try again later."""

    status = 429


class InsufficientFunds(CofferError):
    """Refused rather than let a wallet go below zero."""

    status = 422

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(
            "insufficient_funds",
            f"Requested {requested} but only {available} is available.",
            {"requested": requested, "available": available},
        )
