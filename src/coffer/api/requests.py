"""Request bodies. Unknown fields are refused (``extra="forbid"``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from coffer.api.fields import (
    Amount,
    CashKind,
    ExpiresAt,
    ExternalId,
    Grade,
    GrantSource,
    HoldSeconds,
    MemberStatus,
    Memo,
    Reason,
    Reference,
    WebhookUrl,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberCreate(Strict):
    external_id: ExternalId = Field(description="The service's own id for the member.")
    grade: Grade = "basic"


class MemberUpdate(Strict):
    grade: Grade | None = None
    status: MemberStatus | None = Field(
        default=None,
        description="`suspended` keeps the cash but stops spending and holds; `closed` is final.",
    )


class GrantCreate(Strict):
    amount: Amount
    cash_kind: CashKind
    reason: Reason
    expires_at: ExpiresAt | None = Field(
        default=None, description="RFC 3339 with an offset; must be in the future."
    )
    source: GrantSource = "api"


class SpendCreate(Strict):
    amount: Amount
    reference: Reference = Field(description="Your reference for what was bought.")
    memo: Memo | None = None


class ReversalCreate(Strict):
    reason: Reason | None = None


class HoldCreate(Strict):
    amount: Amount
    expires_in_seconds: HoldSeconds
    reference: Reference | None = None


class HoldCommit(Strict):
    amount: Amount | None = Field(
        default=None, description="How much of the hold to spend; all of it when left out."
    )


class HoldRelease(Strict):
    """No fields; the body may be left out."""


class WebhookEndpointSet(Strict):
    url: WebhookUrl
