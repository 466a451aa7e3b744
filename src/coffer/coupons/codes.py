"""Coupon code text: generating bulk codes, their check character, and normalising what people type.

Pure: no I/O. Two shapes of code (``docs/coupons.md``):

- **bulk codes** are 16 characters from :data:`ALPHABET`, the 31 characters ``2-9`` and
  ``A-Z`` without ``I``, ``L`` and ``O`` (none of ``0 O 1 I L`` can be misread as another).
  15 are random (``secrets``: about 74 bits, unguessable) and the 16th is a check character,
  so a mistyped code is refused as malformed before anything is looked up. They are shown in
  groups of four (``7KQ2-M9XD-...``);
- **public codes** are chosen by a marketer (``WELCOME2026``): 4 to 32 of ``A-Z`` and ``0-9``
  (hyphens allowed and ignored), without a check character.

Both are normalised the same way: upper case, spaces and hyphens removed.

The check character is a weighted sum modulo 31 (a prime, the alphabet's size): character
``i`` (0-based, the check character last) weighs ``i + 1``, and the check character makes
the sum 0. Because 31 is prime and the 16 weights are distinct and non-zero, every change of
one character and every swap of two characters (adjacent or not) changes the sum, so all of
them are caught. (Luhn mod N misses the swap of the alphabet's first and last characters.)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Protocol

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 31, a prime
RANDOM_LENGTH = 15
CODE_LENGTH = RANDOM_LENGTH + 1
PUBLIC_MIN = 4
PUBLIC_MAX = 32
PUBLIC_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

_VALUES = {char: index for index, char in enumerate(ALPHABET)}


class Chooser(Protocol):
    """What :func:`generate` needs of a random source (``secrets`` or ``random.Random``)."""

    def choice(self, seq: Sequence[str], /) -> str: ...


def _weighted(body: str) -> int:
    return sum((index + 1) * _VALUES[char] for index, char in enumerate(body)) % BASE


def check_character(body: str) -> str:
    """The character that completes ``body`` (15 alphabet characters) to a valid code."""
    weight = len(body) + 1
    # Solve weighted(body) + weight * c == 0 (mod 31); pow(-1) is the inverse modulo a prime.
    value = (-_weighted(body) * pow(weight, -1, BASE)) % BASE
    return ALPHABET[value]


def is_valid(code: str) -> bool:
    """Whether a normalised text is a bulk code: 16 alphabet characters with a right check."""
    return (
        len(code) == CODE_LENGTH and all(char in _VALUES for char in code) and _weighted(code) == 0
    )


def generate(rng: Chooser = secrets) -> str:
    """A new bulk code, normalised (16 characters, no hyphens)."""
    body = "".join(rng.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_character(body)


def _squeeze(text: object) -> str | None:
    if not isinstance(text, str) or len(text) > 100:
        return None
    return text.upper().replace(" ", "").replace("-", "")


def normalise(text: object) -> str | None:
    """A typed bulk code in its stored form, or None if it cannot be one (wrong length,
    a character outside the alphabet, or a wrong check character)."""
    squeezed = _squeeze(text)
    return squeezed if squeezed is not None and is_valid(squeezed) else None


def normalise_public(text: object) -> str | None:
    """A public code in its stored form (4-32 of ``A-Z 0-9``), or None."""
    squeezed = _squeeze(text)
    if squeezed is None or not PUBLIC_MIN <= len(squeezed) <= PUBLIC_MAX:
        return None
    return squeezed if all(char in PUBLIC_CHARACTERS for char in squeezed) else None


def looks_like_bulk(text: str) -> bool:
    """A squeezed text of 16 alphabet characters: a bulk code, perhaps mistyped."""
    return len(text) == CODE_LENGTH and all(char in _VALUES for char in text)


def format_code(code: str) -> str:
    """A bulk code in groups of four (``XXXX-XXXX-XXXX-XXXX``); other codes as they are."""
    if len(code) != CODE_LENGTH:
        return code
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))
