"""Review of discounted pricing, on both databases: a quote refuses what the purchase with the
same inputs would refuse for its price, so the two never disagree on whether it can be bought;
a gift is priced by the buyer's facts (grade, first purchase, uses), as docs/purchases.md says.
"""

from __future__ import annotations

import pytest

from coffer.kernel.errors import CofferError
from coffer.kernel.money import MAX_AMOUNT
from coffer.purchases import buying
from coffer.purchases.model import Purchase
from tests.integration.test_policies import (
    PERCENT_10,
    Promo,
    discounts,
    effect_rule,
    refused_purchase,
)
from tests.integration.test_policies import promo as promo  # the fixture
from tests.ledger_helpers import Account


def test_a_total_too_large_to_buy_is_refused_by_the_quote_as_by_the_purchase(
    promo: Promo,
) -> None:
    big = promo.product("BIG", price=MAX_AMOUNT)
    promo.policy("10%", effect_rule(PERCENT_10))
    alice = promo.member("alice", paid=1_000)
    # 2 x MAX_AMOUNT less 10% is still above MAX_AMOUNT: the purchase refuses the price...
    refused = refused_purchase(promo, alice, [(big.id, 2)])
    assert (refused.code, refused.status) == ("invalid_amount", 422)
    # ...and so does the quote, rather than answering a total nobody can pay.
    with pytest.raises(CofferError) as caught:
        promo.quote(alice, [(big.id, 2)])
    assert (caught.value.code, caught.value.status) == ("invalid_amount", 422)
    # One unit (MAX_AMOUNT less 10%) is quoted: the limit is on the total, not the list price.
    assert promo.quote(alice, [(big.id, 1)]).total == MAX_AMOUNT - MAX_AMOUNT // 10


def test_a_gift_is_priced_by_the_buyers_grade_first_purchase_and_uses(promo: Promo) -> None:
    sword = promo.product("SWORD", price=1_000)
    promo.policy("Gold 10%", effect_rule(PERCENT_10, conditions={"grades": ["gold"]}))
    welcome = promo.policy(
        "Welcome 300",
        effect_rule(
            {"kind": "amount_off", "value": 300}, conditions={"first_purchase": True},
            uses_per_member=1,
        ),
    )  # fmt: skip
    basic = promo.graded("basic-one", "basic")
    gold = promo.graded("gold-one", "gold")

    def gift(buyer: Account, to: Account) -> Purchase:
        return promo.db.write(
            lambda c: buying.purchase(
                c, promo.service, (buyer.member, buyer.wallet), [(sword.id, 1)],
                gift_to=to.member, actor="test", now=promo.clock.now(),
            )
        )  # fmt: skip

    # A basic buyer's first purchase, a gift to a gold member: the buyer's welcome, not gold.
    assert discounts(gift(basic, gold)) == [(1_000, 300, 700)]
    # The gift was the buyer's first purchase and use; the recipient's are untouched.
    assert discounts(promo.buy_with(basic, [(sword.id, 1)])) == [(1_000, 0, 1_000)]
    assert discounts(promo.buy_with(gold, [(sword.id, 1)])) == [(1_000, 300, 700)]
    assert discounts(gift(gold, basic)) == [(1_000, 100, 900)]  # the buyer's grade
    assert promo.uses(welcome) == [(300, "active"), (300, "active")]
