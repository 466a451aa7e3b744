"""Coupon campaigns and their codes, on both databases: the rules of each kind, bad campaigns
that write nothing, the status changes, generating, issuing and revoking codes, the CSV export
and the inquiry. ``Coupons`` (a shop with coupon shortcuts) is shared with the other coupon
tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer.coupons import campaigns, codes, redeeming
from coffer.coupons.model import Campaign, Code, Redemption
from coffer.coupons.tables import coupon_attempts, coupon_campaigns, coupon_codes
from coffer.coupons.tables import coupon_redemptions as redemptions
from coffer.db.outbox import jobs
from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import CofferError, Conflict, InvalidInput, NotFound
from coffer.ledger import queries
from coffer.ledger.tables import journals, lots
from coffer.pricing.model import parse_discount_rule
from tests.integration.test_purchases import Shop
from tests.ledger_helpers import Account, new_member

DAY = timedelta(days=1)
RULE = {"scope": {"kind": "catalog"}, "effect": {"kind": "percent_off", "value": 1000}}


class Coupons(Shop):
    """A shop whose marketer runs coupon campaigns, and members who redeem them."""

    def campaign(
        self, kind: str = "cash", *, mode: str = "bulk", status: str = "active", **fields: Any
    ) -> Campaign:
        now = self.clock.now()
        spec: dict[str, Any] = {
            "name": f"{kind} coupon", "kind": kind, "code_mode": mode,
            "valid_from": now - DAY, "valid_until": now + 30 * DAY,
        }  # fmt: skip
        if kind == "cash":
            spec["cash_amount"] = 1_000
        elif kind == "discount":
            spec["discount_rule"] = RULE
        elif kind == "product":
            spec["product_id"] = self.product(f"P{now.timestamp():.0f}{fields.get('sku', '')}").id
        if mode == "public":
            spec["public_code"] = "WELCOME2026"
        spec.update({k: v for k, v in fields.items() if k != "sku"})

        def make(conn: Connection) -> Campaign:
            made = campaigns.create_campaign(conn, self.service.id, actor="marketer", now=now,
                                             **spec)  # fmt: skip
            if status in ("active", "ended"):
                made = campaigns.activate(conn, self.service.id, made.id, now=now)
            if status == "ended":
                made = campaigns.end(conn, self.service.id, made.id, now=now)
            return made

        return self.db.write(make)

    def codes(self, campaign: Campaign, count: int = 1) -> list[str]:
        made = self.db.write(
            lambda c: campaigns.generate_codes(c, campaign, count, self.clock.now())
        )
        return [code.code for code in made]

    def issue(self, campaign: Campaign, account: Account) -> Code:
        return self.db.write(
            lambda c: campaigns.issue_to_member(c, campaign, account.member, self.clock.now())
        )

    def redeem(self, account: Account, text: str) -> Redemption:
        return redeeming.redeem_with_limit(
            self.db, self.service, account.member, account.wallet, text, actor="api",
            now=self.clock.now(),
        )  # fmt: skip

    def coupon_state(self, account: Account) -> tuple[Any, ...]:
        """What a refused redemption must leave alone (failed attempts aside)."""

        def read(conn: Connection) -> tuple[Any, ...]:
            def count(table: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

            statuses = sorted(conn.execute(select(coupon_codes.c.status)).scalars())
            used = sorted(conn.execute(select(coupon_campaigns.c.redeemed_count)).scalars())
            return (
                queries.balance(conn, account.member.id, self.clock.now()).available,
                statuses, used, count(redemptions), count(lots), count(journals),
                count(entitlements), count(jobs),
            )  # fmt: skip

        return self.db.read(read)

    def refused(self, account: Account, text: str) -> CofferError:  # type: ignore[override]
        before = self.coupon_state(account)
        with pytest.raises(CofferError) as caught:
            self.redeem(account, text)
        assert self.coupon_state(account) == before
        return caught.value

    def attempts(self, account: Account) -> list[str]:
        return list(
            self.db.read(
                lambda c: c.execute(
                    select(coupon_attempts.c.error)
                    .where(coupon_attempts.c.member_id == account.member.id)
                    .order_by(coupon_attempts.c.id)
                ).scalars()
            )
        )


def _count(db: Database, table: Any) -> int:
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


# --- campaigns ------------------------------------------------------------------------------


def test_campaigns_of_each_kind(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    cash = shop.campaign("cash", status="draft", cash_amount=5_000, bonus_days=30)
    assert (cash.status, cash.kind, cash.cash_amount) == ("draft", "cash", 5_000)
    assert cash.bonus_days == 30
    assert (cash.code_mode, cash.public_code, cash.per_member_limit) == ("bulk", None, 1)
    discount = shop.campaign("discount", mode="public", status="draft", redemption_limit=100,
                             per_member_limit=2)  # fmt: skip
    assert discount.discount_rule == parse_discount_rule(RULE)
    assert (discount.public_code, discount.redemption_limit, discount.redeemed_count) == (
        "WELCOME2026", 100, 0,
    )  # fmt: skip
    stored = db.read(
        lambda c: c.execute(
            select(coupon_campaigns.c.discount_rule).where(coupon_campaigns.c.id == discount.id)
        ).scalar_one()
    )
    assert stored == parse_discount_rule(RULE).as_json()
    product = shop.campaign("product", status="draft", product_quantity=3)
    assert (product.product_quantity, product.cash_amount) == (3, None)
    listed = db.read(lambda c: campaigns.list_campaigns(c, shop.service.id))
    assert [c.id for c in listed] == [product.id, discount.id, cash.id]
    other = Coupons(db, clock, name="Other")
    with pytest.raises(NotFound) as caught:
        db.read(lambda c: campaigns.get_campaign(c, other.service.id, cash.id))
    assert caught.value.code == "campaign_not_found"


def _bad_campaigns() -> list[Any]:
    now = datetime(2026, 3, 1)
    return [
        pytest.param({"cash_amount": None}, "invalid_amount", id="cash-without-amount"),
        pytest.param({"cash_amount": 0}, "invalid_amount", id="cash-zero"),
        pytest.param({"cash_amount": 1.5}, "invalid_amount", id="cash-float"),
        pytest.param({"bonus_days": 0}, "invalid_bonus_days", id="bonus-days-zero"),
        pytest.param({"kind": "gift"}, "invalid_kind", id="unknown-kind"),
        pytest.param({"name": " "}, "invalid_name", id="blank-name"),
        pytest.param({"per_member_limit": 0}, "invalid_per_member_limit", id="member-limit-0"),
        pytest.param({"valid_until": "soon"}, "invalid_validity", id="until-not-a-time"),
        pytest.param({"valid_from": now}, "invalid_validity", id="naive-time"),
        pytest.param({"code_mode": "both"}, "invalid_code_mode", id="unknown-mode"),
        pytest.param({"redemption_limit": 5}, "field_not_for_kind", id="bulk-with-limit"),
        pytest.param({"product_quantity": 2}, "field_not_for_kind", id="cash-with-quantity"),
        pytest.param({"kind": "discount", "cash_amount": None}, "missing_discount_rule",
                     id="discount-without-rule"),
        pytest.param(
            {"kind": "discount", "cash_amount": None,
             "discount_rule": {"effect": {"kind": "amount_off", "value": -100}}},
            "invalid_rule", id="negative-discount",
        ),
        pytest.param({"kind": "product", "cash_amount": None}, "missing_product",
                     id="product-missing"),
        pytest.param({"code_mode": "public", "public_code": "NO"}, "invalid_public_code",
                     id="public-too-short"),
        pytest.param({"code_mode": "public", "public_code": "HALF_OFF"}, "invalid_public_code",
                     id="public-bad-character"),
        pytest.param({"code_mode": "public", "public_code": codes.generate(random.Random(1))},
                     "invalid_public_code", id="public-shaped-like-bulk"),
        pytest.param({"code_mode": "public", "public_code": "SPRING", "redemption_limit": 0},
                     "invalid_redemption_limit", id="public-limit-0"),
    ]  # fmt: skip


@pytest.mark.parametrize(("change", "code"), _bad_campaigns())
def test_bad_campaigns_write_nothing(
    db: Database, clock: ManualClock, change: dict[str, Any], code: str
) -> None:
    shop = Coupons(db, clock)
    now = clock.now()
    spec: dict[str, Any] = {
        "name": "Spring", "kind": "cash", "code_mode": "bulk", "cash_amount": 1_000,
        "valid_from": now, "valid_until": now + DAY, **change,
    }  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        db.write(lambda c: campaigns.create_campaign(c, shop.service.id, actor="m", now=now,
                                                     **spec))  # fmt: skip
    assert caught.value.code == code
    assert _count(db, coupon_campaigns) == 0


def test_product_campaigns_need_a_grantable_product_of_the_service(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    metered = shop.product("METER", "metered")
    foreign = Coupons(db, clock, name="Other").product("THEIRS")
    now = clock.now()
    for product_id, code in ((metered.id, "product_not_grantable"),
                             (foreign.id, "product_not_found")):  # fmt: skip
        with pytest.raises(CofferError) as caught:
            db.write(
                lambda c, p=product_id: campaigns.create_campaign(
                    c, shop.service.id, name="Gift", kind="product", code_mode="bulk",
                    product_id=p, valid_from=now, valid_until=now + DAY, actor="m", now=now,
                )
            )  # fmt: skip
        assert caught.value.code == code
    assert _count(db, coupon_campaigns) == 0


def test_a_public_code_belongs_to_one_campaign_of_a_service(
    db: Database, clock: ManualClock
) -> None:
    shop = Coupons(db, clock)
    shop.campaign(mode="public", public_code="spring-2026")
    with pytest.raises(Conflict) as caught:
        shop.campaign(mode="public", public_code="SPRING2026")
    assert caught.value.code == "public_code_taken"
    Coupons(db, clock, name="Other").campaign(mode="public", public_code="SPRING2026")
    assert _count(db, coupon_campaigns) == 2


def test_status_changes(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    draft = shop.campaign(status="draft")
    sid, now = shop.service.id, clock.now()
    active = db.write(lambda c: campaigns.activate(c, sid, draft.id, now=now))
    assert active.status == "active"
    for change in (campaigns.activate,):
        with pytest.raises(Conflict) as caught:
            db.write(lambda c, f=change: f(c, sid, draft.id, now=now))
        assert caught.value.code == "invalid_status_change"
    ended = db.write(lambda c: campaigns.end(c, sid, draft.id, now=now))
    assert ended.status == "ended"
    for change in (campaigns.activate, campaigns.end):
        with pytest.raises(Conflict) as caught:
            db.write(lambda c, f=change: f(c, sid, draft.id, now=now))
        assert caught.value.code == "invalid_status_change"
    never_ran = shop.campaign(status="draft")
    assert db.write(lambda c: campaigns.end(c, sid, never_ran.id, now=now)).status == "ended"


# --- codes ----------------------------------------------------------------------------------


def test_generating_codes(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(status="draft")
    made = shop.codes(campaign, 500)
    assert len(set(made)) == 500
    assert all(codes.is_valid(code) for code in made)
    assert _count(db, coupon_codes) == 500
    counts = db.read(lambda c: campaigns.counts(c, campaign))
    assert counts == campaigns.CodeCounts(unredeemed=500)
    for count, code in ((0, "invalid_count"), (10_001, "invalid_count"), (True, "invalid_count")):
        with pytest.raises(InvalidInput) as caught:
            shop.codes(campaign, count)
        assert caught.value.code == code
    public = shop.campaign(mode="public")
    ended = shop.campaign(status="ended")
    for other, code in ((public, "campaign_not_bulk"), (ended, "campaign_ended")):
        with pytest.raises(Conflict) as caught:
            shop.codes(other, 1)
        assert caught.value.code == code
    assert _count(db, coupon_codes) == 500


def test_issued_codes_and_revoking(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(per_member_limit=5)
    alice, bob = shop.member("alice"), shop.member("bob")
    mine = shop.issue(campaign, alice)
    assert (mine.issued_to, mine.status) == (alice.member.id, "unredeemed")
    loose = shop.codes(campaign, 3)
    shop.redeem(bob, loose[0])
    sid, now = shop.service.id, clock.now()
    revoked = db.write(
        lambda c: campaigns.revoke_unredeemed(c, sid, now=now, campaign_id=campaign.id)
    )
    assert revoked == 3
    assert shop.refused(alice, mine.code).code == "coupon_revoked"
    assert db.read(lambda c: campaigns.counts(c, campaign)) == campaigns.CodeCounts(
        unredeemed=0, redeemed=1, revoked=3, redemptions=1
    )
    # By code ids: only the unredeemed ones among them.
    more = db.write(lambda c: campaigns.generate_codes(c, campaign, 2, now))
    ids = [code.id for code in more]
    assert db.write(lambda c: campaigns.revoke_unredeemed(c, sid, now=now, code_ids=ids[:1])) == 1
    assert db.write(lambda c: campaigns.revoke_unredeemed(c, sid, now=now, code_ids=ids)) == 1
    with pytest.raises(InvalidInput):
        db.write(lambda c: campaigns.revoke_unredeemed(c, sid, now=now))


def test_issuing_needs_a_bulk_campaign_still_running(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    alice = shop.member("alice")
    for campaign, code in (
        (shop.campaign(mode="public"), "campaign_not_bulk"),
        (shop.campaign(status="ended"), "campaign_ended"),
    ):
        with pytest.raises(Conflict) as caught:
            shop.issue(campaign, alice)
        assert caught.value.code == code
    assert _count(db, coupon_codes) == 0


def test_export_csv(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign()
    alice, bob = shop.member("alice"), shop.member("bob")
    issued = shop.issue(campaign, alice)
    loose = shop.codes(campaign, 2)
    clock.advance(timedelta(hours=1))
    shop.redeem(bob, loose[0])
    now = clock.now()
    db.write(lambda c: campaigns.revoke_unredeemed(c, shop.service.id, now=now,
                                                   campaign_id=campaign.id))  # fmt: skip
    text = db.read(lambda c: campaigns.export_csv(c, campaign))
    rows = {line.split(",")[0]: line for line in text.splitlines()[1:]}
    assert text.splitlines()[0] == (
        "code,status,issued_to,redeemed_by,redeemed_at,redemption_status"
    )
    assert rows == {
        codes.format_code(issued.code): f"{codes.format_code(issued.code)},revoked,alice,,,",
        codes.format_code(loose[0]):
            f"{codes.format_code(loose[0])},redeemed,,bob,2026-03-01T01:00:00+00:00,active",
        codes.format_code(loose[1]): f"{codes.format_code(loose[1])},revoked,,,,",
    }  # fmt: skip
    public = shop.campaign(mode="public", redemption_limit=10, per_member_limit=1)
    shop.redeem(alice, "welcome-2026")
    assert db.read(lambda c: campaigns.export_csv(c, public)) == (
        "code,status,redeemed_count,redemption_limit\nWELCOME2026,active,1,10\n"
    )


def test_inquiry(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign()
    alice = shop.member("alice")
    code = shop.issue(campaign, alice)
    sid = shop.service.id
    before = db.read(lambda c: campaigns.inquire(c, sid, code.code.lower()))
    assert (before.kind, before.status, before.issued_to, before.redeemed_by) == (
        "bulk", "unredeemed", "alice", None,
    )  # fmt: skip
    assert before.code == codes.format_code(code.code)
    redemption = shop.redeem(alice, codes.format_code(code.code))
    after = db.read(lambda c: campaigns.inquire(c, sid, code.code))
    assert (after.status, after.redeemed_by, after.redeemed_at) == (
        "redeemed", "alice", clock.now(),
    )  # fmt: skip
    assert (after.redemption_status, after.redemption_id) == ("active", redemption.id)
    assert after.campaign.id == campaign.id
    shop.campaign(mode="public", per_member_limit=1)
    shop.redeem(alice, "WELCOME2026")
    public = db.read(lambda c: campaigns.inquire(c, sid, "welcome2026"))
    assert (public.kind, public.status, public.redeemed_count) == ("public", "public", 1)
    other = Coupons(db, clock, name="Other")
    for text, error in ((code.code, "coupon_not_found"), ("??", "invalid_coupon_code")):
        with pytest.raises(CofferError) as caught:
            db.read(lambda c, t=text: campaigns.inquire(c, other.service.id, t))
        assert caught.value.code == error


def test_member_coupons(db: Database, clock: ManualClock) -> None:
    shop = Coupons(db, clock)
    campaign = shop.campaign(per_member_limit=3)
    alice = shop.member("alice")
    first, second = shop.issue(campaign, alice), shop.issue(campaign, alice)
    redemption = shop.redeem(alice, first.code)
    public = shop.campaign(mode="public")
    via_public = shop.redeem(alice, "WELCOME2026")
    seen = db.read(lambda c: redeeming.member_coupons(c, alice.member))
    assert [item.code.id for item in seen.issued] == [second.id, first.id]
    assert [item.code.status for item in seen.issued] == ["unredeemed", "redeemed"]
    assert [view.redemption.id for view in seen.redemptions] == [via_public.id, redemption.id]
    shown = [view.code for view in seen.redemptions]
    assert shown == ["WELCOME2026", codes.format_code(first.code)]
    assert seen.redemptions[0].campaign.id == public.id
    bob = new_member(db, clock, shop.service, "bob")
    assert db.read(lambda c: redeeming.member_coupons(c, bob.member)).issued == ()
