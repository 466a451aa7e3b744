from __future__ import annotations

from decimal import Decimal

import pytest

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT, currency, format_minor, parse_amount


@pytest.mark.parametrize("value", [1, 100, 1_000_000, MAX_AMOUNT])
def test_parse_amount_accepts_positive_ints(value: int) -> None:
    result = parse_amount(value)
    assert result == value
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(100.0, id="float"),
        pytest.param(0.5, id="fractional-float"),
        pytest.param(float("nan"), id="nan"),
        pytest.param("100", id="str"),
        pytest.param("1e3", id="str-exponent"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(Decimal(100), id="decimal"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_amount_rejects_non_integers(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(value, field="price")
    assert caught.value.code == "invalid_amount"
    assert caught.value.details == {"field": "price"}
    assert caught.value.status == 422


def test_parse_amount_rejects_zero_unless_allowed() -> None:
    with pytest.raises(InvalidInput, match="greater than zero"):
        parse_amount(0)
    assert parse_amount(0, allow_zero=True) == 0


@pytest.mark.parametrize("value", [-1, -(2**53), -(2**64)])
@pytest.mark.parametrize("allow_zero", [False, True])
def test_parse_amount_rejects_negative(value: int, allow_zero: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(value, allow_zero=allow_zero)
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [MAX_AMOUNT + 1, 2**63, 10**30])
def test_parse_amount_rejects_above_2_pow_53(value: int) -> None:
    assert MAX_AMOUNT == 2**53
    with pytest.raises(InvalidInput, match="must not exceed"):
        parse_amount(value)


def test_currency_normalizes_and_rejects_unknown() -> None:
    assert currency(" krw ").code == "KRW"
    assert currency("USD").exponent == 2
    with pytest.raises(InvalidInput) as caught:
        currency("XXX")
    assert caught.value.code == "unsupported_currency"


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        (1234, "USD", "12.34"),
        (5, "USD", "0.05"),
        (-5, "USD", "-0.05"),
        (1234, "KRW", "1234"),
        (1234, "KWD", "1.234"),
    ],
)
def test_format_minor(amount: int, code: str, expected: str) -> None:
    assert format_minor(amount, currency(code)) == expected
