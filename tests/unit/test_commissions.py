"""PG commission: max(min_fee, round_half_up(amount * bp / 10000) + fixed_fee), integers only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT
from coffer.payments.commissions import MethodTerms, commission, validate_terms


def _terms(bp: int = 0, fixed: int = 0, minimum: int = 0) -> MethodTerms:
    return MethodTerms(enabled=True, commission_bp=bp, fixed_fee=fixed, min_fee=minimum)


@pytest.mark.parametrize(
    ("terms", "amount", "fee"),
    [
        (_terms(bp=250), 10_000, 250),  # 2.5 % of 10,000 won
        (_terms(bp=250), 1_010, 25),  # 25.25 rounds down
        (_terms(bp=250), 1_020, 26),  # 25.5 rounds half up
        (_terms(bp=250), 1_019, 25),  # 25.475
        (_terms(bp=330, fixed=100), 50_000, 1_750),  # 1,650 + 100
        (_terms(bp=100, minimum=300), 10_000, 300),  # 100 is below the minimum
        (_terms(bp=100, minimum=300), 50_000, 500),
        (_terms(fixed=300), 1_000, 300),  # a flat fee (e.g. transfers)
        (_terms(bp=290), 1, 0),  # 0.029 rounds to 0
        (_terms(bp=5000), 1, 1),  # 0.5 rounds half up
        (_terms(bp=10_000), 12_345, 12_345),
        (_terms(bp=250, fixed=30, minimum=50), 0, 50),
        (_terms(bp=1), MAX_AMOUNT, (MAX_AMOUNT + 5_000) // 10_000),  # no float precision loss
    ],
)
def test_worked_examples(terms: MethodTerms, amount: int, fee: int) -> None:
    assert commission(terms, amount) == fee


terms_strategy = st.builds(
    MethodTerms,
    enabled=st.booleans(),
    commission_bp=st.integers(0, 10_000),
    fixed_fee=st.integers(0, 10**9),
    min_fee=st.integers(0, 10**9),
)
amounts = st.integers(0, MAX_AMOUNT)


@given(terms_strategy, amounts, amounts)
def test_fee_is_a_non_negative_int_and_never_falls_as_the_amount_grows(
    terms: MethodTerms, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    fee_low, fee_high = commission(terms, low), commission(terms, high)
    assert type(fee_low) is int
    assert type(fee_high) is int
    assert 0 <= fee_low <= fee_high
    assert fee_low >= terms.min_fee


@given(terms_strategy, amounts)
def test_rate_part_is_exact_half_up_rounding(terms: MethodTerms, amount: int) -> None:
    # Compare with the definition in exact rational arithmetic: floor(x + 1/2).
    numerator = amount * terms.commission_bp
    exact_half_up = (2 * numerator + 10_000) // 20_000
    assert commission(terms, amount) == max(terms.min_fee, exact_half_up + terms.fixed_fee)


@pytest.mark.parametrize("amount", [-1, 1.5, "100", True, MAX_AMOUNT + 1])
def test_amount_must_be_a_whole_number_in_range(amount: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        commission(_terms(bp=100), amount)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (_terms(bp=-1), "commission_bp"),
        (_terms(bp=10_001), "commission_bp"),
        (_terms(fixed=-5), "fixed_fee"),
        (_terms(minimum=MAX_AMOUNT + 1), "min_fee"),
        (MethodTerms(True, 2.5, 0, 0), "commission_bp"),  # type: ignore[arg-type]
        (MethodTerms(True, True, 0, 0), "commission_bp"),
    ],
)
def test_terms_out_of_range_are_refused(terms: MethodTerms, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_terms(terms)
    assert (refused.value.code, refused.value.details["field"]) == ("invalid_commission", field)
