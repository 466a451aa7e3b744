"""Request and response bodies of charges and refunds."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from coffer.api.fields import (
    Amount,
    ExternalId,
    PaymentMethodName,
    PgCompany,
    Reason,
    ReturnUrl,
    UtcTime,
)
from coffer.api.requests import Strict
from coffer.payments.charges import Charge, TimelineEntry
from coffer.payments.refunds import Refund


class ChargeCreate(Strict):
    member: ExternalId = Field(description="The member's external id.")
    amount: Amount
    method: PaymentMethodName
    pg: PgCompany | None = Field(
        default=None, description="Use this PG company; default: the service's routing."
    )
    return_url: ReturnUrl


class RefundCreate(Strict):
    amount: Amount | None = Field(
        default=None, description="Default: everything of the charge that is still unspent."
    )
    reason: Reason


class VirtualAccountOut(BaseModel):
    bank: str
    account_number: str
    due_at: UtcTime


class ChargeOut(BaseModel):
    id: UUID
    order_id: str
    member_id: UUID
    amount: int
    currency: str
    method: str
    pg: str
    status: str
    refunded: int
    checkout_url: str | None = Field(
        description="Send the member's browser here (only while the charge is `created`)."
    )
    virtual_account: VirtualAccountOut | None
    failure_code: str | None
    failure_message: str | None
    attention: str | None = Field(description="Why a person must look at this charge.")
    approved_at: UtcTime | None
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, charge: Charge, checkout_url: str | None) -> ChargeOut:
        account = None
        if charge.va_account and charge.va_bank and charge.va_due_at:
            account = VirtualAccountOut(
                bank=charge.va_bank, account_number=charge.va_account, due_at=charge.va_due_at
            )
        return cls.model_validate(
            {
                **{
                    name: getattr(charge, name)
                    for name in cls.model_fields
                    if hasattr(charge, name)
                },
                "checkout_url": checkout_url if charge.status == "created" else None,
                "virtual_account": account,
            }
        )


class TimelineOut(BaseModel):
    at: UtcTime
    source: str = Field(description="api, return, confirm, webhook, janitor or refund.")
    event: str
    before: str | None
    after: str | None
    detail: dict[str, Any] | None

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineOut:
        return cls.model_validate(entry, from_attributes=True)


class RefundOut(BaseModel):
    id: UUID
    charge_id: UUID
    kind: str = Field(description="`pg_cancel`, or `bank_refund` when the PG can no longer cancel.")
    amount: int
    status: str
    reason: str
    failure_code: str | None
    failure_message: str | None
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls.model_validate(refund, from_attributes=True)


class ChargeDetail(ChargeOut):
    refundable: int = Field(description="What can still be refunded: the unspent part.")
    timeline: list[TimelineOut]
    refunds: list[RefundOut]


class ChargeList(BaseModel):
    data: list[ChargeOut]
    next_cursor: str | None
