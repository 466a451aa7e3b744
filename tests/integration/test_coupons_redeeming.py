"""Redeeming coupons on both databases: what each kind does, every refusal (and that it
changed nothing), the rate limit, discount coupons at checkout, and cancelling redemptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.coupons import campaigns, codes, redeeming
from coffer.coupons.model import Redemption
from coffer.coupons.tables import coupon_codes
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.entitlements import items
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError, Conflict, RateLimited
from coffer.kernel.ids import uuid7
from coffer.ledger import queries
from coffer.ledger import service as ledger
from coffer.ledger.tables import lots
from coffer.pricing.model import RuleKey
from tests.integration.test_coupons import DAY, Coupons
from tests.ledger_helpers import Account, assert_invariants


def _lot(db: Database, redemption: Redemption) -> Any:
    return db.read(lambda c: c.execute(select(lots).where(lots.c.id == redemption.lot_id)).one())


def _events(db: Database, event_type: str) -> list[dict[str, Any]]:
    rows = db.read(lambda c: c.execute(select(jobs.c.payload)).scalars().all())
    return [row["data"] for row in rows if row.get("type") == event_type]


def test_a_cash_coupon_grants_bonus_cash_that_expires(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(cash_amount=3_000, bonus_days=7)
    alice = shop.member("alice", paid=500)
    [code] = shop.codes(campaign)
    redemption = shop.redeem(alice, codes.format_code(code).lower())
    assert (redemption.status, redemption.campaign_id, redemption.member_id) == (
        "active", campaign.id, alice.member.id,
    )  # fmt: skip
    balance = db.read(lambda c: queries.balance(c, alice.member.id, clock.now()))
    assert (balance.paid, balance.bonus) == (500, 3_000)
    lot = _lot(db, redemption)
    assert (lot.kind, lot.source, lot.amount, lot.expires_at) == (
        "bonus", "coupon", 3_000, clock.now() + 7 * DAY,
    )  # fmt: skip
    row = db.read(lambda c: c.execute(select(coupon_codes)).mappings().one())
    assert (row["status"], row["redeemed_by"], row["redeemed_at"]) == (
        "redeemed", alice.member.id, clock.now(),
    )  # fmt: skip
    [event] = _events(db, "coupon.redeemed")
    assert (event["external_id"], event["kind"], event["amount"]) == ("alice", "cash", 3_000)
    assert shop.attempts(alice) == []
    clock.advance(7 * DAY)
    assert shop.balance(alice) == 500  # the coupon's bonus expired
    assert_invariants(db)


def test_a_product_coupon_grants_the_product(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign("product", product_quantity=3)
    alice = shop.member("alice")
    [code] = shop.codes(campaign)
    redemption = shop.redeem(alice, code)
    [owned] = shop.owned(alice)
    assert redemption.entitlement_ids == (owned.id,)
    assert (owned.product_id, owned.kind, owned.granted) == (campaign.product_id, "item", 3)
    assert shop.balance(alice) == 0


def test_a_public_code_with_limits(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    shop.campaign(mode="public", public_code="SPRING", redemption_limit=3, per_member_limit=2)
    alice, bob, carol = shop.member("alice"), shop.member("bob"), shop.member("carol")
    shop.redeem(alice, "spring")
    shop.redeem(alice, "Spring")
    assert shop.refused(alice, "SPRING").code == "coupon_member_limit_reached"
    shop.redeem(bob, "SPRING")
    assert shop.refused(carol, "SPRING").code == "coupon_limit_reached"
    assert (shop.balance(alice), shop.balance(bob), shop.balance(carol)) == (2_000, 1_000, 0)
    assert shop.attempts(alice) == ["coupon_member_limit_reached"]
    assert shop.attempts(carol) == ["coupon_limit_reached"]
    assert_invariants(db)


def test_the_member_limit_counts_bulk_codes_of_one_campaign(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(per_member_limit=2)
    alice = shop.member("alice")
    first, second, third = shop.codes(campaign, 3)
    shop.redeem(alice, first)
    shop.redeem(alice, second)
    assert shop.refused(alice, third).code == "coupon_member_limit_reached"


def _refusals() -> list[Any]:
    return [
        pytest.param("malformed", "invalid_coupon_code", id="malformed"),
        pytest.param("wrong_check", "invalid_coupon_code", id="check-character-wrong"),
        pytest.param("unknown", "coupon_not_found", id="unknown"),
        pytest.param("foreign", "coupon_not_found", id="another-services-code"),
        pytest.param("revoked", "coupon_revoked", id="revoked"),
        pytest.param("redeemed", "coupon_already_redeemed", id="redeemed-by-another"),
        pytest.param("redeemed_by_self", "coupon_already_redeemed", id="redeemed-twice"),
        pytest.param("not_yet", "coupon_not_yet_valid", id="not-yet-valid"),
        pytest.param("expired", "coupon_expired", id="expired"),
        pytest.param("draft", "coupon_campaign_not_active", id="draft-campaign"),
        pytest.param("ended", "coupon_campaign_not_active", id="ended-campaign"),
        pytest.param("not_yours", "coupon_not_yours", id="issued-to-another"),
        pytest.param("discount", "coupon_applies_at_checkout", id="discount-coupon"),
        pytest.param("suspended", "member_suspended", id="member-suspended"),
    ]


def _code_for(shop: Coupons, case: str, alice: Account) -> str:
    """A code that ``alice`` cannot redeem, for the reason ``case`` names."""
    now = shop.clock.now()
    bob = shop.member("bob")
    if case == "malformed":
        return "HELLO WORLD!"
    if case == "foreign":
        other = Coupons(shop.db, shop.clock, name="Other")
        return other.codes(other.campaign())[0]
    if case in ("draft", "ended", "discount"):
        made = shop.campaign("discount" if case == "discount" else "cash", status="draft")
        [code] = shop.codes(made)
        if case != "draft":
            shop.db.write(lambda c: campaigns.activate(c, shop.service.id, made.id, now=now))
        if case == "ended":
            shop.db.write(lambda c: campaigns.end(c, shop.service.id, made.id, now=now))
        return code
    if case in ("not_yet", "expired"):
        window = (now + DAY, now + 2 * DAY) if case == "not_yet" else (now - 2 * DAY, now)
        made = shop.campaign(valid_from=window[0], valid_until=window[1])
        return shop.codes(made)[0]
    campaign = shop.campaign()
    if case == "not_yours":
        return shop.issue(campaign, bob).code
    [code] = shop.codes(campaign)
    if case == "wrong_check":
        last = code[-1]
        return code[:-1] + next(c for c in codes.ALPHABET if c != last)
    if case == "unknown":
        return codes.generate()
    if case == "revoked":
        shop.db.write(lambda c: campaigns.revoke_unredeemed(c, shop.service.id, now=now,
                                                            campaign_id=campaign.id))  # fmt: skip
    elif case == "redeemed":
        shop.redeem(bob, code)
    elif case == "redeemed_by_self":
        shop.redeem(alice, code)
    elif case == "suspended":
        shop.db.write(lambda c: app.change_member_status(c, shop.service, "alice", "suspended",
                                                         clock=shop.clock))  # fmt: skip
        alice.member = shop.db.read(
            lambda c: app.member_wallet(c, shop.service, "alice", spending=False)
        )[0]
    return code


@pytest.mark.parametrize(("case", "error"), _refusals())
def test_refusals_change_nothing(db: Database, clock: ManualClock, case: str, error: str) -> None:
    shop = Coupons(db, clock)
    alice = shop.member("alice", paid=700)
    text = _code_for(shop, case, alice)
    before_attempts = shop.attempts(alice)
    refused = shop.refused(alice, text)
    assert refused.code == error
    counted = error.startswith(("coupon_", "invalid_")) and error != "coupon_applies_at_checkout"
    assert shop.attempts(alice) == before_attempts + ([error] if counted else [])
    assert_invariants(db)


# --- the rate limit -------------------------------------------------------------------------


def test_ten_failures_then_429_even_for_a_right_code(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign()
    alice, bob = shop.member("alice"), shop.member("bob")
    [good] = shop.codes(campaign)
    for _ in range(10):
        clock.advance(timedelta(seconds=30))
        assert shop.refused(alice, codes.generate()).code == "coupon_not_found"
    with pytest.raises(RateLimited) as caught:
        shop.redeem(alice, good)
    assert (caught.value.code, caught.value.status) == ("too_many_coupon_attempts", 429)
    # The first failure leaves the window 10 minutes after it: 30 s after the last attempt
    # plus 9 * 30 s before it... i.e. at 10:30, now is 5:00.
    assert caught.value.details == {"retry_after_seconds": 331}
    assert len(shop.attempts(alice)) == 10  # a 429 is not counted: the window slides
    assert shop.balance(alice) == 0
    shop.redeem(bob, shop.codes(campaign)[0])  # other members are not limited
    clock.advance(timedelta(minutes=5, seconds=31))
    shop.redeem(alice, good)
    assert shop.balance(alice) == 1_000


# --- discount coupons -----------------------------------------------------------------------


def test_a_discount_coupon_at_checkout(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign("discount", name="Ten off")
    alice, bob = shop.member("alice"), shop.member("bob")
    [code] = shop.codes(campaign)
    sid, now = shop.service.id, clock.now()
    coupon = db.read(lambda c: redeeming.discount_coupon(c, sid, alice.member, code, now))
    assert coupon.rule.key == RuleKey("coupon", campaign.id, 1)
    assert (coupon.rule.name, coupon.rule.rule, coupon.rule.member_uses) == (
        "Ten off", campaign.discount_rule, 0,
    )  # fmt: skip
    assert coupon.campaign_id == campaign.id
    purchase_id = uuid7()
    used = db.write(
        lambda c: redeeming.use_in_purchase(c, coupon, alice.member, purchase_id, 120, now)
    )
    assert (used.purchase_id, used.discount, used.code_id) == (purchase_id, 120, coupon.code_id)
    # A second purchase (or another member) with the same code is refused, and so is a stale
    # checkout that looked the code up before it was used.
    for member in (alice, bob):
        with pytest.raises(Conflict) as caught:
            db.read(lambda c, m=member: redeeming.discount_coupon(c, sid, m.member, code, now))
        assert caught.value.code == "coupon_already_redeemed"
    with pytest.raises(Conflict) as caught:
        db.write(lambda c: redeeming.use_in_purchase(c, coupon, bob.member, uuid7(), 120, now))
    assert caught.value.code == "coupon_already_redeemed"
    cash = shop.campaign()
    with pytest.raises(Conflict) as caught:
        db.read(lambda c: redeeming.discount_coupon(c, sid, bob.member, shop.codes(cash)[0], now))
    assert caught.value.code == "coupon_not_a_discount"


def test_a_public_discount_coupon_used_up_by_a_concurrent_purchase(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    shop.campaign("discount", mode="public", public_code="ONEONLY", redemption_limit=1)
    alice, bob = shop.member("alice"), shop.member("bob")
    sid, now = shop.service.id, clock.now()
    for_alice = db.read(lambda c: redeeming.discount_coupon(c, sid, alice.member, "ONEONLY", now))
    for_bob = db.read(lambda c: redeeming.discount_coupon(c, sid, bob.member, "ONEONLY", now))
    assert for_alice.code_id is None
    db.write(lambda c: redeeming.use_in_purchase(c, for_bob, bob.member, uuid7(), 50, now))
    with pytest.raises(Conflict) as caught:
        db.write(lambda c: redeeming.use_in_purchase(c, for_alice, alice.member, uuid7(), 50, now))
    assert caught.value.code == "coupon_limit_reached"


# --- cancelling -----------------------------------------------------------------------------


def _cancel(shop: Coupons, redemption: Redemption, reason: str = "sent by mistake") -> Redemption:
    return shop.db.write(
        lambda c: redeeming.cancel_redemption(
            c, shop.service, redemption.id, actor="cs@example.com", reason=reason,
            now=shop.clock.now(), resolve=app.resolve_wallet,
        )
    )  # fmt: skip


def _spend(shop: Coupons, account: Account, amount: int) -> None:
    shop.db.write(
        lambda c: ledger.spend(c, account.wallet, amount=amount, reference="x", actor="t",
                               now=shop.clock.now())
    )  # fmt: skip


def test_cancelling_untouched_cash(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(cash_amount=2_000)
    alice = shop.member("alice", paid=300)
    [code] = shop.codes(campaign)
    redemption = shop.redeem(alice, code)
    _spend(shop, alice, 300)
    assert shop.balance(alice) == 2_000
    # The spend drew the coupon's bonus (bonus before paid): it is used, the cancel refused.
    before = shop.coupon_state(alice)
    with pytest.raises(Conflict) as caught:
        _cancel(shop, redemption)
    assert caught.value.code == "coupon_cash_used"
    assert shop.coupon_state(alice) == before
    second = shop.campaign(cash_amount=500, per_member_limit=1)
    kept = shop.redeem(alice, shop.codes(second)[0])
    cancelled = _cancel(shop, kept, " not deserved ")
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled", "cs@example.com", "not deserved",
    )  # fmt: skip
    assert cancelled.reversal_journal_id is not None
    assert shop.balance(alice) == 2_000
    assert _lot(db, kept).remaining == 0
    status = db.read(
        lambda c: c.execute(
            select(coupon_codes.c.status).where(coupon_codes.c.id == kept.code_id)
        ).scalar_one()
    )
    assert status == "redeemed"  # the code is not given back
    with pytest.raises(Conflict) as caught:
        _cancel(shop, kept)
    assert caught.value.code == "redemption_already_cancelled"
    with pytest.raises(CofferError) as bad:
        _cancel(shop, redemption, "  ")
    assert bad.value.code == "missing_reason"
    assert_invariants(db)


def test_cancelling_a_product_coupon(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign("product", product_quantity=2, per_member_limit=2)
    alice = shop.member("alice")
    first, second = shop.codes(campaign, 2)
    unused = shop.redeem(alice, first)
    _cancel(shop, unused)
    assert shop.owned(alice) == []
    used = shop.redeem(alice, second)
    [owned] = shop.owned(alice)
    db.write(lambda c: items.consume_item(c, alice.member.id, owned.id, 1, clock.now()))
    with pytest.raises(Conflict) as caught:
        _cancel(shop, used)
    assert caught.value.code == "coupon_product_in_use"
    assert [e.remaining for e in shop.owned(alice)] == [1]


def test_a_discount_redemption_is_cancelled_with_its_purchase(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    alice = shop.member("alice")
    [code] = shop.codes(shop.campaign("discount"))
    sid, now = shop.service.id, clock.now()

    def use(conn: Connection) -> Redemption:
        coupon = redeeming.discount_coupon(conn, sid, alice.member, code, now)
        return redeeming.use_in_purchase(conn, coupon, alice.member, uuid7(), 10, now)

    used = db.write(use)
    assert not redeeming.is_reversible(used)
    with pytest.raises(Conflict) as caught:
        _cancel(shop, used)
    assert caught.value.code == "coupon_redeemed_in_purchase"
