"""Coupon records as plain values, the refusals of a redemption, and the rules about a
campaign's state. No I/O (``docs/coupons.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.pricing.model import ActiveRule, DiscountRule


@dataclass(frozen=True, slots=True)
class Campaign:
    id: UUID
    service_id: UUID
    name: str
    kind: str
    status: str
    cash_amount: int | None
    bonus_days: int | None
    discount_rule: DiscountRule | None
    product_id: UUID | None
    product_quantity: int | None
    code_mode: str
    public_code: str | None
    redemption_limit: int | None
    redeemed_count: int
    per_member_limit: int
    valid_from: datetime
    valid_until: datetime
    created_by: str
    created_at: datetime
    updated_at: datetime

    @property
    def is_public(self) -> bool:
        return self.code_mode == "public"

    def is_valid_at(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until


@dataclass(frozen=True, slots=True)
class Code:
    id: UUID
    service_id: UUID
    campaign_id: UUID
    code: str
    status: str
    issued_to: UUID | None
    redeemed_by: UUID | None
    redeemed_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Redemption:
    """One redemption: what it did (a cash lot, entitlements, or a discount in a purchase)."""

    id: UUID
    service_id: UUID
    campaign_id: UUID
    code_id: UUID | None
    member_id: UUID
    status: str
    journal_id: UUID | None
    lot_id: UUID | None
    entitlement_ids: tuple[UUID, ...]
    purchase_id: UUID | None
    discount: int | None
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    reversal_journal_id: UUID | None


@dataclass(frozen=True, slots=True)
class Found:
    """A code as typed, found: its campaign, and the bulk code row (None for a public code)."""

    campaign: Campaign
    code: Code | None
    text: str


@dataclass(frozen=True, slots=True)
class CouponDiscount:
    """A discount coupon checked for one member, ready for the quote engine.

    ``rule.key`` is ``RuleKey("coupon", campaign_id, 1)``. Hand it back to
    :func:`coffer.coupons.redeeming.use_in_purchase` when the purchase is made.
    """

    rule: ActiveRule
    campaign_id: UUID
    code_id: UUID | None


@dataclass(frozen=True, slots=True)
class Inquiry:
    """What anyone at the service may learn about a code (``GET /coupons/{code}``)."""

    code: str
    kind: str  # "bulk" or "public"
    status: str  # a bulk code's status; "public" for a public code
    campaign: Campaign
    issued_to: str | None
    redeemed_by: str | None
    redeemed_at: datetime | None
    #: A bulk code's redemption status (active, cancelled; None before it is redeemed).
    redemption_status: str | None
    redemption_id: UUID | None
    #: A public code's redemptions so far.
    redeemed_count: int | None


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: Code
    campaign: Campaign


@dataclass(frozen=True, slots=True)
class RedemptionView:
    redemption: Redemption
    campaign: Campaign
    code: str | None


@dataclass(frozen=True, slots=True)
class MemberCoupons:
    """Codes issued to the member, and the member's redemptions (newest first)."""

    issued: tuple[IssuedCode, ...]
    redemptions: tuple[RedemptionView, ...]


# --- refusals -------------------------------------------------------------------------------

#: Refusals that count as a failed attempt for the rate limit (someone trying codes).
FAILED_ATTEMPT_CODES = frozenset(
    {
        "invalid_coupon_code",
        "coupon_not_found",
        "coupon_revoked",
        "coupon_already_redeemed",
        "coupon_not_yet_valid",
        "coupon_expired",
        "coupon_campaign_not_active",
        "coupon_not_yours",
        "coupon_limit_reached",
        "coupon_member_limit_reached",
    }
)


def invalid_code() -> InvalidInput:
    return InvalidInput(
        "invalid_coupon_code",
        "This is not a coupon code: check it for typing mistakes.",
        {"field": "code"},
    )


def not_found() -> NotFound:
    return NotFound("coupon_not_found", "No such coupon code in this service.")


def already_redeemed() -> Conflict:
    return Conflict("coupon_already_redeemed", "This coupon code has already been redeemed.")


def revoked() -> Conflict:
    return Conflict("coupon_revoked", "This coupon code has been revoked.")


def limit_reached() -> Conflict:
    return Conflict("coupon_limit_reached", "This coupon has been redeemed as often as it may.")


def member_limit_reached(limit: int) -> Conflict:
    return Conflict(
        "coupon_member_limit_reached",
        f"A member may redeem this coupon {limit} time(s), and this member has.",
        {"per_member_limit": limit},
    )


def campaign_refusal(campaign: Campaign, now: datetime) -> Conflict | None:
    """Why the campaign's codes cannot be redeemed now, or None."""
    if campaign.status != "active":
        return Conflict(
            "coupon_campaign_not_active",
            "This coupon's campaign is not running.",
            {"campaign_status": campaign.status},
        )
    if now < campaign.valid_from:
        return Conflict(
            "coupon_not_yet_valid",
            "This coupon is not valid yet.",
            {"valid_from": campaign.valid_from.isoformat()},
        )
    if now >= campaign.valid_until:
        return Conflict(
            "coupon_expired",
            "This coupon has expired.",
            {"valid_until": campaign.valid_until.isoformat()},
        )
    return None


def code_refusal(code: Code, member_id: UUID) -> Conflict | None:
    """Why this bulk code cannot be redeemed by this member, or None."""
    if code.status == "revoked":
        return revoked()
    if code.status == "redeemed":
        return already_redeemed()
    if code.issued_to is not None and code.issued_to != member_id:
        return Conflict("coupon_not_yours", "This coupon code was issued to another member.")
    return None


def member_refusal(status: str, external_id: str) -> Conflict | None:
    """Only an active member redeems coupons."""
    if status == "active":
        return None
    return Conflict(
        f"member_{status}",
        f"Member {external_id!r} is {status} and cannot redeem coupons.",
    )
