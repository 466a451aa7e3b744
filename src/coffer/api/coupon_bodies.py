"""Request and response bodies of coupons: redeeming, the inquiry, a member's coupons, issuing."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from coffer.api.fields import API_ERROR_CODES, ExternalId, UtcTime
from coffer.api.requests import Strict
from coffer.api.responses import BalanceOut
from coffer.coupons import codes
from coffer.coupons.model import Campaign, Inquiry, IssuedCode, RedemptionView
from coffer.kernel.text import is_storable_text

API_ERROR_CODES.add("invalid_coupon_code")

#: Longest text accepted as a code (hyphens and spaces included).
CODE_TEXT_MAX = 64


def _code_text(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= CODE_TEXT_MAX
        or not is_storable_text(value)
    ):
        raise PydanticCustomError(
            "invalid_coupon_code", f"code must be text of 1 to {CODE_TEXT_MAX} characters."
        )
    return value


CodeText = Annotated[
    str,
    PlainValidator(_code_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": CODE_TEXT_MAX,
            "description": "As typed: case, spaces and hyphens do not matter.",
            "examples": ["7KQ2-M9XD-4HPA-ZT3C", "WELCOME2026"],
        }
    ),
]


class RedeemCreate(Strict):
    code: CodeText


class IssueCreate(Strict):
    external_id: ExternalId = Field(description="The member who alone may redeem the code.")


# --- responses ------------------------------------------------------------------------------


class CampaignOut(BaseModel):
    id: UUID
    name: str
    kind: str = Field(description="cash, discount or product.")
    status: str = Field(description="draft, active or ended.")
    code_mode: str = Field(description="bulk (generated codes) or public (one shared code).")
    cash_amount: int | None = Field(description="cash: the bonus cash each redemption grants.")
    bonus_days: int | None = Field(description="cash: days until the bonus expires (none: never).")
    discount_rule: dict[str, Any] | None = Field(
        description="discount: the rule (docs/pricing.md)."
    )
    product_id: UUID | None
    product_quantity: int | None
    public_code: str | None
    redemption_limit: int | None = Field(description="public: most redemptions in all.")
    redeemed_count: int = Field(description="public: redemptions so far.")
    per_member_limit: int
    valid_from: UtcTime
    valid_until: UtcTime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignOut:
        rule = campaign.discount_rule
        return cls(
            id=campaign.id, name=campaign.name, kind=campaign.kind, status=campaign.status,
            code_mode=campaign.code_mode, cash_amount=campaign.cash_amount,
            bonus_days=campaign.bonus_days,
            discount_rule=None if rule is None else rule.as_json(),
            product_id=campaign.product_id, product_quantity=campaign.product_quantity,
            public_code=campaign.public_code, redemption_limit=campaign.redemption_limit,
            redeemed_count=campaign.redeemed_count, per_member_limit=campaign.per_member_limit,
            valid_from=campaign.valid_from, valid_until=campaign.valid_until,
        )  # fmt: skip


class RedemptionOut(BaseModel):
    id: UUID
    code: str | None = Field(description="The code redeemed (formatted), or the public code.")
    member: str = Field(description="The member's external id.")
    status: str = Field(description="active or cancelled.")
    campaign: CampaignOut
    journal_id: UUID | None = Field(description="cash: the grant of the bonus.")
    lot_id: UUID | None = Field(description="cash: the bonus lot.")
    entitlement_ids: list[UUID] = Field(description="product: what it granted.")
    purchase_id: UUID | None = Field(description="discount: the purchase it was used in.")
    discount: int | None
    created_at: UtcTime
    cancelled_at: UtcTime | None

    @classmethod
    def of(cls, view: RedemptionView, member: str) -> RedemptionOut:
        r = view.redemption
        return cls(
            id=r.id, code=view.code, member=member, status=r.status,
            campaign=CampaignOut.of(view.campaign), journal_id=r.journal_id, lot_id=r.lot_id,
            entitlement_ids=list(r.entitlement_ids), purchase_id=r.purchase_id,
            discount=r.discount, created_at=r.created_at, cancelled_at=r.cancelled_at,
        )  # fmt: skip


class RedemptionResult(RedemptionOut):
    balance: BalanceOut = Field(description="The member's balance afterwards.")


class IssuedOut(BaseModel):
    code: str = Field(description="The code, formatted in groups of four.")
    status: str = Field(description="unredeemed, redeemed or revoked.")
    member: str
    campaign: CampaignOut
    created_at: UtcTime
    redeemed_at: UtcTime | None

    @classmethod
    def of(cls, issued: IssuedCode, member: str) -> IssuedOut:
        code = issued.code
        return cls(
            code=codes.format_code(code.code), status=code.status, member=member,
            campaign=CampaignOut.of(issued.campaign), created_at=code.created_at,
            redeemed_at=code.redeemed_at,
        )  # fmt: skip


class MemberCouponsOut(BaseModel):
    issued: list[IssuedOut] = Field(description="Codes issued to the member, newest first.")
    redemptions: list[RedemptionOut] = Field(description="The member's redemptions, newest first.")


class InquiryOut(BaseModel):
    code: str
    kind: str = Field(description="bulk or public.")
    status: str = Field(description="unredeemed, redeemed or revoked; `public` for a public code.")
    campaign: CampaignOut
    issued_to: str | None
    redeemed_by: str | None
    redeemed_at: UtcTime | None
    redemption_id: UUID | None
    redemption_status: str | None = Field(description="active or cancelled, once redeemed.")
    redeemed_count: int | None = Field(description="public: redemptions so far.")

    @classmethod
    def of(cls, inquiry: Inquiry) -> InquiryOut:
        return cls(
            code=inquiry.code, kind=inquiry.kind, status=inquiry.status,
            campaign=CampaignOut.of(inquiry.campaign), issued_to=inquiry.issued_to,
            redeemed_by=inquiry.redeemed_by, redeemed_at=inquiry.redeemed_at,
            redemption_id=inquiry.redemption_id, redemption_status=inquiry.redemption_status,
            redeemed_count=inquiry.redeemed_count,
        )  # fmt: skip
