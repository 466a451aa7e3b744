"""Response bodies, and how ledger and tenancy records become them.

Amounts are integers in the currency's minor unit; every date-time is RFC 3339 in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from coffer.api.fields import UtcTime
from coffer.ledger.model import Balance, Draw
from coffer.ledger.queries import HistoryEntry, LotRecord
from coffer.ledger.store import HoldRow
from coffer.tenancy.model import Member


class MemberOut(BaseModel):
    id: UUID
    external_id: str
    grade: str
    status: str
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls.model_validate(member, from_attributes=True)


class BalanceOut(BaseModel):
    currency: str
    available: int = Field(description="paid + bonus: what can be spent or held now.")
    held: int
    paid: int
    bonus: int
    expiring_soon: int = Field(description="Cash in lots expiring within 30 days.")
    total: int = Field(description="available + held.")

    @classmethod
    def of(cls, balance: Balance) -> BalanceOut:
        return cls.model_validate(balance, from_attributes=True)


class DrawOut(BaseModel):
    lot_id: UUID
    cash_kind: str
    amount: int

    @classmethod
    def of(cls, draw: Draw) -> DrawOut:
        return cls(lot_id=draw.lot_id, cash_kind=draw.kind, amount=draw.amount)


class GrantOut(BaseModel):
    id: UUID = Field(description="The grant's journal id.")
    lot_id: UUID
    amount: int
    cash_kind: str
    balance: BalanceOut


class SpendOut(BaseModel):
    id: UUID = Field(description="The spend's journal id (reverse it with this id).")
    amount: int
    draws: list[DrawOut]
    balance: BalanceOut


class ReversalOut(BaseModel):
    id: UUID = Field(description="The reversal's journal id.")
    reverses: UUID
    amount: int
    draws: list[DrawOut] = Field(description="The lots the cash went back to.")
    balance: BalanceOut


class HoldOut(BaseModel):
    id: UUID
    amount: int
    committed: int
    status: str = Field(description="active, committed, released or expired.")
    reference: str | None
    expires_at: UtcTime
    created_at: UtcTime
    closed_at: UtcTime | None

    @classmethod
    def of(cls, hold: HoldRow) -> HoldOut:
        return cls.model_validate(hold, from_attributes=True)


class HoldList(BaseModel):
    data: list[HoldOut]


class LotOut(BaseModel):
    id: UUID
    cash_kind: str
    source: str
    amount: int
    remaining: int
    refundable: bool
    expires_at: UtcTime | None
    status: str = Field(description="open, used or expired.")
    reason: str | None
    created_at: UtcTime

    @classmethod
    def of(cls, lot: LotRecord, now: datetime) -> LotOut:
        return cls(
            id=lot.id,
            cash_kind=lot.kind,
            source=lot.source,
            amount=lot.amount,
            remaining=lot.remaining,
            refundable=lot.refundable,
            expires_at=lot.expires_at,
            status=lot.status(now),
            reason=lot.reason,
            created_at=lot.created_at,
        )


class LotList(BaseModel):
    data: list[LotOut]


class HistoryEntryOut(BaseModel):
    id: UUID = Field(description="Journal id.")
    kind: str
    amount: int
    currency: str
    paid_change: int
    bonus_change: int
    held_change: int
    reference: str | None
    memo: str | None
    reason: str | None
    actor: str
    business_date: date = Field(description="The date in the service's time zone.")
    reverses_id: UUID | None
    hold_id: UUID | None
    created_at: UtcTime

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryEntryOut:
        return cls.model_validate(entry, from_attributes=True)


class HistoryPageOut(BaseModel):
    data: list[HistoryEntryOut]
    next_cursor: UUID | None = Field(description="Pass as `cursor` for the next (older) page.")


class PostingOut(BaseModel):
    account: str = Field(description="Account code, e.g. cash:paid or sales_revenue.")
    amount: int = Field(description="The change of the account's balance.")
    currency: str


class JournalDrawOut(BaseModel):
    lot_id: UUID
    cash_kind: str
    amount: int = Field(description="Taken from the lot; negative when given back to it.")


class JournalOut(BaseModel):
    id: UUID
    kind: str
    amount: int
    currency: str
    external_id: str | None = Field(description="The member whose cash moved.")
    reference: str | None
    memo: str | None
    reason: str | None
    actor: str
    business_date: date
    reverses_id: UUID | None
    reversed_by: UUID | None
    hold_id: UUID | None
    created_at: UtcTime
    postings: list[PostingOut]
    draws: list[JournalDrawOut]

    @classmethod
    def of(cls, journal: dict[str, Any], external_id: str | None) -> JournalOut:
        return cls(
            id=journal["id"],
            kind=journal["kind"],
            amount=journal["amount"],
            currency=journal["currency"],
            external_id=external_id,
            reference=journal["reference"],
            memo=journal["memo"],
            reason=journal["reason"],
            actor=journal["actor"],
            business_date=journal["business_date"],
            reverses_id=journal["reverses_id"],
            reversed_by=journal["reversed_by"],
            hold_id=journal["hold_id"],
            created_at=journal["created_at"],
            postings=[
                PostingOut(account=p["code"], amount=p["amount"], currency=p["currency"])
                for p in journal["postings"]
            ],
            draws=[
                JournalDrawOut(lot_id=d["lot_id"], cash_kind=d["kind"], amount=d["amount"])
                for d in journal["draws"]
            ],
        )


class WebhookEndpointOut(BaseModel):
    url: str | None
    secret_set: bool


class WebhookEndpointCreated(BaseModel):
    url: str
    secret: str = Field(
        description="Signing secret (`whsec_…`) for the Coffer-Signature header; shown only now."
    )


class Health(BaseModel):
    status: str
