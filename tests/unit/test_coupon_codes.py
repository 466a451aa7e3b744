"""Coupon code text: the alphabet, the check character, normalising and formatting."""

from __future__ import annotations

import random

import pytest

from coffer.coupons import codes
from coffer.coupons.codes import ALPHABET, CODE_LENGTH


def _sample(count: int = 60, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [codes.generate(rng) for _ in range(count)]


def test_the_alphabet_has_no_ambiguous_characters() -> None:
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    assert len(ALPHABET) == len(set(ALPHABET)) == 31
    assert not set("01OIL") & set(ALPHABET)


def test_generated_codes_are_16_alphabet_characters_with_a_right_check() -> None:
    sample = _sample()
    assert len(set(sample)) == len(sample)
    for code in sample:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(ALPHABET)
        assert codes.is_valid(code)
        assert codes.normalise(code) == code
    assert codes.is_valid(codes.generate())  # the default source is ``secrets``


def test_the_check_catches_every_single_substitution() -> None:
    caught = 0
    for code in _sample():
        for index in range(CODE_LENGTH):
            for char in ALPHABET:
                if char == code[index]:
                    continue
                typo = code[:index] + char + code[index + 1 :]
                assert codes.normalise(typo) is None, (code, typo)
                caught += 1
    assert caught == 60 * 16 * 30


def test_the_check_catches_every_swap_of_two_characters() -> None:
    swaps = 0
    for code in _sample():
        for i in range(CODE_LENGTH):
            for j in range(i + 1, CODE_LENGTH):
                if code[i] == code[j]:
                    continue
                chars = list(code)
                chars[i], chars[j] = chars[j], chars[i]
                assert codes.normalise("".join(chars)) is None, (code, i, j)
                swaps += 1
    assert swaps > 60 * 100


def test_first_and_last_alphabet_characters_swapped_are_caught() -> None:
    # Luhn mod N misses exactly this swap; the weighted sum modulo 31 does not.
    body = "2Z" + "A" * 13
    code = body + codes.check_character(body)
    assert codes.is_valid(code)
    assert codes.normalise("Z2" + code[2:]) is None


def test_normalising_what_people_type() -> None:
    code = _sample(1)[0]
    shown = codes.format_code(code)
    assert shown == f"{code[0:4]}-{code[4:8]}-{code[8:12]}-{code[12:16]}"
    assert codes.normalise(shown) == code
    assert codes.normalise(shown.lower()) == code
    assert codes.normalise(" " + " ".join(shown.split("-")) + " ") == code
    assert codes.normalise(code[:-1]) is None  # too short
    assert codes.normalise(code + "A") is None  # too long
    assert codes.normalise(code[:-1] + "O") is None  # outside the alphabet
    assert codes.normalise(None) is None
    assert codes.normalise(12345) is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("WELCOME2026", "WELCOME2026"),
        ("welcome-2026", "WELCOME2026"),
        (" Spring Sale ", "SPRINGSALE"),
        ("ABCD", "ABCD"),
        ("A" * 32, "A" * 32),
        ("OIL0", "OIL0"),  # public codes may use any letter and digit
    ],
)
def test_public_codes_normalise(typed: str, stored: str) -> None:
    assert codes.normalise_public(typed) == stored


@pytest.mark.parametrize("typed", ["ABC", "A" * 33, "WELCOME_2026", "SALE!", "코드2026", "", None])
def test_bad_public_codes(typed: object) -> None:
    assert codes.normalise_public(typed) is None


def test_format_leaves_public_codes_alone() -> None:
    assert codes.format_code("WELCOME2026") == "WELCOME2026"
