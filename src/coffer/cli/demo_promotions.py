"""Demo promotions for ``coffer up``: discount policies, a charge event, coupons and grades.

Seeded once, when the demo service has no discount policy yet, so that every page of the
promotions work has something real on it:

- policies: 10 % off a member's first purchase; 1,000 off each pass for gold members;
- a charge event: 5 % bonus from 10,000 charged, 10 % from 50,000 (bonus lives 30 days);
- coupons: the public code ``WELCOME-COFFER`` (1,000 bonus cash, once per member) and
  ``SAVE-10`` (10 % off at checkout), plus 20 product codes for a dragon skin;
- grades by paid charges over 90 days (silver from 30,000, gold from 100,000); the demo
  members keep their seeded grades by an override.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from coffer.app import Runtime
from coffer.catalog import categories, products
from coffer.coupons import campaigns
from coffer.grades import service as grades
from coffer.grades.model import GradeRule
from coffer.pricing.versioned import EVENTS, POLICIES
from coffer.tenancy import service as tenancy

ACTOR = "system:demo"
WELCOME_CODE = "WELCOME-COFFER"
DISCOUNT_CODE = "SAVE-10"
YEAR = timedelta(days=365)


def ensure_demo_promotions(rt: Runtime, service_id: UUID) -> None:
    """Seed the demo promotions unless the service already has a discount policy."""

    def seed(conn: Any) -> None:
        if POLICIES.listing(conn, service_id):
            return
        now = rt.clock.now()
        passes = next(
            c.id for c in categories.list_categories(conn, service_id) if c.name_en == "Passes"
        )
        for name, rule in (
            ("First purchase 10% off", {
                "conditions": {"first_purchase": True},
                "effect": {"kind": "percent_off", "value": 1000},
            }),
            ("Gold members: 1,000 off each pass", {
                "scope": {"kind": "categories", "ids": [str(passes)]},
                "conditions": {"grades": ["gold"]},
                "effect": {"kind": "amount_off", "value": 1000},
                "stacking": "stackable",
            }),
        ):  # fmt: skip
            policy = POLICIES.create(
                conn, service_id, name=name, rule=rule, budget=None, actor=ACTOR, now=now
            )
            POLICIES.activate(conn, service_id, policy.id, now=now)
        event = EVENTS.create(
            conn, service_id, name="Charge bonus", budget=1_000_000, actor=ACTOR, now=now,
            rule={"tiers": [{"min_amount": 10_000, "percent_bp": 500},
                            {"min_amount": 50_000, "percent_bp": 1000}], "bonus_days": 30},
        )  # fmt: skip
        EVENTS.activate(conn, service_id, event.id, now=now)
        _seed_coupons(conn, service_id, now)
        grades.set_rules(
            conn, service_id,
            [GradeRule("basic", 0, 0, 90), GradeRule("silver", 1, 30_000, 90),
             GradeRule("gold", 2, 100_000, 90)],
            ACTOR, now,
        )  # fmt: skip
        members, _next = tenancy.search_members(conn, service_id)
        for member in members:
            if member.grade != "basic":
                grades.override(
                    conn, service_id, member, member.grade, until=None,
                    reason="Demo member: keeps the grade it was seeded with.", actor=ACTOR,
                    now=now,
                )  # fmt: skip

    rt.db.write(seed)


def _seed_coupons(conn: Any, service_id: UUID, now: datetime) -> None:
    welcome = campaigns.create_campaign(
        conn, service_id, name="Welcome cash", kind="cash", code_mode="public",
        public_code=WELCOME_CODE, cash_amount=1_000, bonus_days=30, per_member_limit=1,
        actor=ACTOR, now=now, valid_from=now, valid_until=now + YEAR,
    )  # fmt: skip
    save = campaigns.create_campaign(
        conn, service_id, name="10% off at checkout", kind="discount", code_mode="public",
        public_code=DISCOUNT_CODE, per_member_limit=1,
        discount_rule={"effect": {"kind": "percent_off", "value": 1000}},
        actor=ACTOR, now=now, valid_from=now, valid_until=now + YEAR,
    )  # fmt: skip
    gift = campaigns.create_campaign(
        conn, service_id, name="Dragon skin gift", kind="product", code_mode="bulk",
        product_id=products.product_by_sku(conn, service_id, "dragon-skin").id,
        product_quantity=1, actor=ACTOR, now=now, valid_from=now, valid_until=now + YEAR,
    )  # fmt: skip
    for campaign in (welcome, save, gift):
        campaigns.activate(conn, service_id, campaign.id, now=now)
    campaigns.generate_codes(conn, gift, 20, now)
