"""Tables owned by coupons: campaigns, codes, redemptions and redemption attempts.

A campaign is one of three kinds: ``cash`` (grants bonus cash), ``discount`` (applies in the
quote, scoped like a discount policy; its rule is JSON read by ``pricing.model``) or
``product`` (grants an entitlement). Its codes are generated in bulk (``code_mode = 'bulk'``:
each code redeemable once) or it has one public code (``'public'``) with a redemption limit
and a per-member limit.

The database keeps the limits: a bulk code moves ``unredeemed -> redeemed`` by a guarded UPDATE
and has at most one redemption (unique ``code_id``); a public code's ``redeemed_count`` only
grows by a guarded UPDATE and a CHECK keeps it within ``redemption_limit``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

CAMPAIGN_KINDS = ("cash", "discount", "product")
CAMPAIGN_STATUSES = ("draft", "active", "ended")
CODE_MODES = ("bulk", "public")
CODE_STATUSES = ("unredeemed", "redeemed", "revoked")
REDEMPTION_STATUSES = ("active", "cancelled")

coupon_campaigns = Table(
    "coupon_campaigns",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    # cash: the bonus each redemption grants, and how many days the bonus lot lives (NULL: no
    # expiry).
    Column("cash_amount", BigInteger, nullable=True),
    Column("bonus_days", Integer, nullable=True),
    # discount: the rule (scope, conditions, effect), in pricing's JSON form.
    Column("discount_rule", JSON, nullable=True),
    # product: what each redemption grants.
    Column("product_id", Id, ForeignKey("products.id"), nullable=True),
    Column("product_quantity", Integer, nullable=True),
    Column("code_mode", String(10), nullable=False),
    # public: the one code (normalised), how many redemptions in all (NULL: unlimited).
    Column("public_code", String(40), nullable=True),
    Column("redemption_limit", Integer, nullable=True),
    Column("redeemed_count", Integer, nullable=False, default=0),
    Column("per_member_limit", Integer, nullable=False, default=1),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_until", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "public_code"),
    CheckConstraint(f"kind IN {CAMPAIGN_KINDS!r}", name="kind"),
    CheckConstraint(f"status IN {CAMPAIGN_STATUSES!r}", name="status"),
    CheckConstraint(f"code_mode IN {CODE_MODES!r}", name="code_mode"),
    CheckConstraint(
        "(kind = 'cash') = (cash_amount IS NOT NULL) AND (cash_amount IS NULL OR cash_amount > 0)",
        name="cash_amount",
    ),
    CheckConstraint("bonus_days IS NULL OR bonus_days > 0", name="bonus_days_positive"),
    CheckConstraint("(kind = 'discount') = (discount_rule IS NOT NULL)", name="discount_rule"),
    CheckConstraint(
        "(kind = 'product') = (product_id IS NOT NULL AND product_quantity IS NOT NULL)",
        name="product",
    ),
    CheckConstraint(
        "product_quantity IS NULL OR product_quantity > 0", name="product_quantity_positive"
    ),
    CheckConstraint("(code_mode = 'public') = (public_code IS NOT NULL)", name="public_code"),
    CheckConstraint(
        "redemption_limit IS NULL OR redemption_limit > 0", name="redemption_limit_positive"
    ),
    CheckConstraint(
        "redeemed_count >= 0 AND (redemption_limit IS NULL OR redeemed_count <= redemption_limit)",
        name="redemptions_within_limit",
    ),
    CheckConstraint("per_member_limit > 0", name="per_member_limit_positive"),
    CheckConstraint("valid_until > valid_from", name="valid_window"),
)

coupon_codes = Table(
    "coupon_codes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("campaign_id", Id, ForeignKey("coupon_campaigns.id"), nullable=False, index=True),
    # Normalised: upper case, no hyphens (shown in groups of four).
    Column("code", String(32), nullable=False),
    Column("status", String(12), nullable=False),
    # Issued directly to one member: only that member can redeem it.
    Column("issued_to", Id, ForeignKey("members.id"), nullable=True, index=True),
    Column("redeemed_by", Id, ForeignKey("members.id"), nullable=True),
    Column("redeemed_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "code"),
    CheckConstraint(f"status IN {CODE_STATUSES!r}", name="status"),
    CheckConstraint(
        "(status = 'redeemed') = (redeemed_by IS NOT NULL AND redeemed_at IS NOT NULL)",
        name="redeemed_has_member",
    ),
    CheckConstraint("(status = 'revoked') = (revoked_at IS NOT NULL)", name="revoked_has_time"),
)

coupon_redemptions = Table(
    "coupon_redemptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("campaign_id", Id, ForeignKey("coupon_campaigns.id"), nullable=False),
    # The bulk code redeemed (NULL for a campaign's public code).
    Column("code_id", Id, ForeignKey("coupon_codes.id"), nullable=True, unique=True),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("status", String(10), nullable=False),
    # What it did: a cash grant, entitlements, or a discount in a purchase.
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=True),
    Column("lot_id", Id, ForeignKey("lots.id"), nullable=True),
    Column("entitlement_ids", JSON, nullable=False),
    Column("purchase_id", Id, nullable=True),
    Column("discount", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("cancelled_at", UTCDateTime, nullable=True),
    Column("cancelled_by", String(200), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("reversal_journal_id", Id, ForeignKey("journals.id"), nullable=True),
    CheckConstraint(f"status IN {REDEMPTION_STATUSES!r}", name="status"),
    CheckConstraint(
        "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_time"
    ),
)
Index(
    "ix_coupon_redemptions_member",
    coupon_redemptions.c.campaign_id,
    coupon_redemptions.c.member_id,
)
Index("ix_coupon_redemptions_by_member", coupon_redemptions.c.member_id, coupon_redemptions.c.id)

#: Every redemption attempt that failed, for the per-member rate limit (brute force gets 429).
coupon_attempts = Table(
    "coupon_attempts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("error", String(60), nullable=True),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_coupon_attempts_member", coupon_attempts.c.member_id, coupon_attempts.c.at)
