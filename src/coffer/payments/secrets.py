"""Secrets at rest: PG secret keys and webhook secrets are stored sealed with Fernet.

Fernet (``cryptography``) is AES-128-CBC with an HMAC-SHA256 over the token, so a token sealed
with another key, or altered, is refused rather than decrypted into garbage.

The key comes from the settings (``COFFER_SECRET_KEY``, see :mod:`coffer.config`): one Fernet key
(32 random bytes, URL-safe base64), or several separated by commas for rotation. The first key
seals; every key opens. To rotate, put the new key first and keep the old one after it, run
:func:`coffer.payments.contracts.reseal_secrets` (it re-seals every stored secret with the first
key), then drop the old key.
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

HINT_CHARS = 4


class InvalidSecretKey(ValueError):
    """The configured key is not a Fernet key (or a comma-separated list of them)."""


class UnreadableSecret(ValueError):
    """A sealed secret that no configured key opens (wrong key, or the token was altered)."""


def new_key() -> str:
    """A fresh key for ``COFFER_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Seals and opens short secrets with the configured key (or keys, newest first)."""

    def __init__(self, key: str) -> None:
        parts = [part.strip() for part in key.split(",") if part.strip()]
        if not parts:
            raise InvalidSecretKey("The secret key is empty.")
        try:
            fernets = [Fernet(part.encode("ascii")) for part in parts]
        except (ValueError, UnicodeEncodeError, binascii.Error):
            raise InvalidSecretKey(
                "The secret key must be a Fernet key: 32 random bytes in URL-safe base64 "
                "(44 characters), or several such keys separated by commas."
            ) from None
        self._fernet = MultiFernet(fernets)

    def seal(self, plain: str) -> str:
        """``plain`` encrypted with the first key, as ASCII text."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plain text of a sealed secret; :class:`UnreadableSecret` if no key opens it."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UnreadableSecret(
                "A stored secret cannot be opened with the configured secret key."
            ) from None

    def rotate(self, sealed: str) -> str:
        """The same secret sealed again with the first key (for key rotation)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise UnreadableSecret(
                "A stored secret cannot be opened with the configured secret key."
            ) from None

    @staticmethod
    def hint(plain: str) -> str:
        """``…`` and the last characters of ``plain``: enough to tell keys apart, not to guess.

        Four characters of a secret of 16 or more; fewer of a shorter one (a quarter of it), so
        a short secret never shows much of itself.
        """
        shown = min(HINT_CHARS, len(plain) // 4)
        return "…" + (plain[-shown:] if shown else "")
