"""Coupons: redeem a code for a member, inquire about a code, list a member's coupons, and
issue a campaign's code to a member. The rules are in ``docs/coupons.md``.

Redeeming and issuing take an ``Idempotency-Key``: a retry with the same key and body returns
the first answer. A refused redemption counts toward the member's rate limit (written after the
refused transaction rolled back): after 10 failures in 10 minutes every attempt is 429
``too_many_coupon_attempts``, a right code too.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.coupon_bodies import (
    InquiryOut,
    IssueCreate,
    IssuedOut,
    MemberCouponsOut,
    RedeemCreate,
    RedemptionOut,
    RedemptionResult,
)
from coffer.api.errors import ErrorEnvelope
from coffer.api.fields import member_key, object_id
from coffer.api.idempotency import IdempotentDep
from coffer.api.responses import BalanceOut
from coffer.coupons import campaigns, codes, redeeming, store
from coffer.coupons.model import IssuedCode, RedemptionView
from coffer.ledger import queries
from coffer.tenancy import service as tenancy

router = APIRouter(tags=["coupons"])

_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorEnvelope,
        "description": "Too many failed attempts (`too_many_coupon_attempts`; "
        "`details.retry_after_seconds`).",
    }
}


@router.post(
    "/members/{external_id}/coupons",
    status_code=201,
    response_model=RedemptionResult,
    responses=_RATE_LIMITED,
)
def redeem_coupon(external_id: str, body: RedeemCreate, call: IdempotentDep) -> JSONResponse:
    """Redeem a cash coupon (bonus cash) or a product coupon (an entitlement) for the member.

    404 `member_not_found`, `coupon_not_found` (also another service's code); 409
    `member_suspended`, `member_closed`, `coupon_revoked`, `coupon_already_redeemed`,
    `coupon_not_yours`, `coupon_campaign_not_active`, `coupon_not_yet_valid`,
    `coupon_expired`, `coupon_limit_reached`, `coupon_member_limit_reached`,
    `coupon_applies_at_checkout` (a discount coupon: give it with the purchase); 422
    `invalid_coupon_code` (malformed, or a typing mistake the check character caught);
    429 `too_many_coupon_attempts`.
    """
    key = member_key(external_id)
    service = call.caller.service
    db = call.runtime.db
    member = db.read(lambda conn: tenancy.get_member(conn, service.id, key))

    def work(conn: Connection) -> RedemptionResult:
        current, wallet = app.member_wallet_by_id(conn, service, member.id, spending=False)
        redemption = redeeming.redeem(
            conn, service, current, wallet, body.code, actor=call.caller.actor, now=call.now
        )
        campaign = store.get_campaign(conn, service.id, redemption.campaign_id)
        code = codes.normalise_public(body.code)
        shown = campaign.public_code if campaign.is_public else codes.format_code(code or "")
        out = RedemptionOut.of(RedemptionView(redemption, campaign, shown), current.external_id)
        balance = queries.balance(conn, current.id, call.now)
        return RedemptionResult(**dict(out), balance=BalanceOut.of(balance))

    return redeeming.with_attempt_limit(db, service.id, member.id, call.now,
                                        lambda: call.run(work))  # fmt: skip


@router.get("/coupons/{code}", response_model=InquiryOut)
def inquire_coupon(code: str, caller: CallerDep, runtime: RuntimeDep) -> InquiryOut:
    """Everything about a code: its campaign, status, who it was issued to, who redeemed it,
    when, and the redemption's status; for a public code, its redemptions so far.

    404 `coupon_not_found`; 422 `invalid_coupon_code`.
    """
    return runtime.db.read(
        lambda conn: InquiryOut.of(campaigns.inquire(conn, caller.service.id, code))
    )


@router.get("/members/{external_id}/coupons", response_model=MemberCouponsOut)
def member_coupons(external_id: str, caller: CallerDep, runtime: RuntimeDep) -> MemberCouponsOut:
    """Codes issued to the member (with their status) and the member's redemptions, newest
    first (at most 100 of each)."""
    key = member_key(external_id)

    def read(conn: Connection) -> MemberCouponsOut:
        member = tenancy.get_member(conn, caller.service.id, key)
        found = redeeming.member_coupons(conn, member)
        return MemberCouponsOut(
            issued=[IssuedOut.of(item, member.external_id) for item in found.issued],
            redemptions=[RedemptionOut.of(v, member.external_id) for v in found.redemptions],
        )

    return runtime.db.read(read)


@router.post("/coupon-campaigns/{campaign_id}/issue", status_code=201, response_model=IssuedOut)
def issue_coupon(campaign_id: str, body: IssueCreate, call: IdempotentDep) -> JSONResponse:
    """Issue a new code of a bulk campaign to one member: only that member can redeem it.

    404 `campaign_not_found`, `member_not_found`; 409 `campaign_not_bulk` (a public-code
    campaign), `campaign_ended`, `member_closed`.
    """
    cid: UUID = object_id(campaign_id, "campaign_not_found", "No such coupon campaign.")
    service = call.caller.service

    def work(conn: Connection) -> IssuedOut:
        campaign = campaigns.get_campaign(conn, service.id, cid)
        member = tenancy.get_member(conn, service.id, body.external_id)
        code = campaigns.issue_to_member(conn, campaign, member, call.now)
        return IssuedOut.of(IssuedCode(code, campaign), member.external_id)

    return call.run(work)
