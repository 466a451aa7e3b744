"""The sandbox's error: a stable code, a message for people and an HTTP status."""

from __future__ import annotations


class PgError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
