"""The desk's form amounts: decimal text in the major unit to exact minor units, or an error."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from coffer.kernel.money import MAX_AMOUNT
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError


def _(text: str) -> str:
    return text


@pytest.mark.parametrize(
    ("raw", "code", "minor"),
    [
        ("1000", "KRW", 1000),
        (" 1000 ", "KRW", 1000),
        ("007", "JPY", 7),
        ("12.34", "USD", 1234),
        ("12.3", "USD", 1230),
        ("12", "USD", 1200),
        ("0.01", "USD", 1),
        ("1.234", "KWD", 1234),
        (str(MAX_AMOUNT), "KRW", MAX_AMOUNT),
    ],
)
def test_amounts_convert_exactly(raw: str, code: str, minor: int) -> None:
    assert forms.amount(raw, code, _) == minor


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("1.5", "KRW"),
        ("1.0", "KRW"),
        ("1,000", "KRW"),
        ("1 000", "KRW"),
        ("abc", "KRW"),
        ("", "KRW"),
        ("0", "KRW"),
        ("0.00", "USD"),
        ("-5", "KRW"),
        ("+5", "KRW"),
        ("1e3", "KRW"),
        ("12.345", "USD"),
        (".5", "USD"),
        ("5.", "USD"),
        ("١٢", "KRW"),
        (str(MAX_AMOUNT + 1), "KRW"),
        ("9" * 40, "KRW"),
    ],
)
def test_bad_amounts_are_errors_never_rounded(raw: str, code: str) -> None:
    with pytest.raises(FormError) as caught:
        forms.amount(raw, code, _)
    assert caught.value.field == "amount"


def test_reasons() -> None:
    assert forms.reason("  sorry  ", _) == "sorry"
    for bad in ("", "   ", "x" * 501, "a\x00b"):
        with pytest.raises(FormError):
            forms.reason(bad, _)
    assert forms.reason("x" * 500, _) == "x" * 500


def test_valid_through_a_day_means_until_its_midnight_in_the_zone() -> None:
    assert forms.end_of_day(date(2026, 3, 31), "Asia/Seoul") == datetime(
        2026, 3, 31, 15, tzinfo=UTC
    )
    assert forms.day("", _, name="d") is None
    with pytest.raises(FormError):
        forms.day("2026-3-1", _, name="d")
