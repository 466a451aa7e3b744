"""Redeeming coupon codes, using discount coupons in purchases, cancelling redemptions, and the
rate limit on attempts (``docs/coupons.md``).

Every function but :func:`redeem_with_limit` runs in the caller's transaction. A refusal
raises before anything is written. The database keeps the limits:

- a bulk code moves ``unredeemed -> redeemed`` by a guarded ``UPDATE`` (the one whose update
  counts 1 wins; the others are refused ``coupon_already_redeemed``), and has at most one
  redemption (``coupon_redemptions.code_id`` is unique);
- a public code's ``redeemed_count`` grows by a guarded ``UPDATE … WHERE redemption_limit IS
  NULL OR redeemed_count < redemption_limit`` (and a CHECK), so the limit is never passed;
- the per-member limit is counted after taking the member's wallet lock, which serialises one
  member's redemptions (and purchases) and nobody else's.

Lock order: the member's wallet, then the code or the campaign row (as a purchase does).

Rate limit: a member with :data:`MAX_FAILED_ATTEMPTS` failed attempts in the last
:data:`ATTEMPT_WINDOW` is refused ``too_many_coupon_attempts`` (429) before the code is looked
up, so guessing codes gets 429s, never a hit. :func:`with_attempt_limit` counts an attempt
as failed before it runs (checking the limit under the member's wallet lock, so concurrent
attempts cannot all pass together), then, in transactions of their own, keeps it with the
refusal's code or drops it when it was not refused for its code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from coffer.catalog import products
from coffer.coupons import codes, store
from coffer.coupons.model import (
    FAILED_ATTEMPT_CODES,
    Campaign,
    Code,
    CouponDiscount,
    Found,
    IssuedCode,
    MemberCoupons,
    Redemption,
    RedemptionView,
    already_redeemed,
    campaign_refusal,
    code_refusal,
    limit_reached,
    member_limit_reached,
    member_refusal,
)
from coffer.coupons.tables import coupon_attempts, coupon_campaigns, coupon_codes
from coffer.coupons.tables import coupon_redemptions as redemptions
from coffer.db.outbox import emit_event
from coffer.db.transaction import Database
from coffer.entitlements import grants
from coffer.kernel.errors import CofferError, Conflict, InvalidInput, RateLimited
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.ledger import service as ledger
from coffer.ledger import store as ledger_store
from coffer.ledger import takebacks
from coffer.ledger.model import WalletRef
from coffer.ledger.service import WalletResolver
from coffer.pricing.model import ActiveRule, RuleKey
from coffer.tenancy.model import Member, Service

T = TypeVar("T")

#: A member may fail this many times per window; the next attempt is refused with 429.
MAX_FAILED_ATTEMPTS = 10
#: The ``error`` of an attempt still in flight (counted as failed until it is settled).
PENDING = "pending"
ATTEMPT_WINDOW = timedelta(minutes=10)
MAX_REASON = 500
#: Most rows :func:`member_coupons` lists of each kind.
MEMBER_LIST_LIMIT = 100


# --- the rate limit -------------------------------------------------------------------------


def _refuse_over_limit(conn: Connection, member_id: UUID, now: datetime, *,
                       in_flight: bool) -> None:  # fmt: skip
    since = now - ATTEMPT_WINDOW
    query = (
        select(coupon_attempts.c.at)
        .where(
            coupon_attempts.c.member_id == member_id,
            coupon_attempts.c.succeeded.is_(False),
            coupon_attempts.c.at > since,
        )
        .order_by(coupon_attempts.c.at.desc())
        .limit(MAX_FAILED_ATTEMPTS)
    )
    if not in_flight:
        error = coupon_attempts.c.error
        query = query.where(error.is_(None) | (error != PENDING))
    recent = list(conn.execute(query).scalars())
    if len(recent) < MAX_FAILED_ATTEMPTS:
        return
    retry_at = recent[-1] + ATTEMPT_WINDOW
    raise RateLimited(
        "too_many_coupon_attempts",
        "Too many wrong coupon codes: try again in a few minutes.",
        {"retry_after_seconds": max(1, int((retry_at - now).total_seconds()) + 1)},
    )


def check_attempts(conn: Connection, member: Member, now: datetime) -> None:
    """Refuse with ``too_many_coupon_attempts`` (429) a member who failed
    :data:`MAX_FAILED_ATTEMPTS` times in the last :data:`ATTEMPT_WINDOW`; ``details`` says
    when the next attempt is allowed. Attempts still in flight (:func:`with_attempt_limit`
    counted them already) are left out."""
    _refuse_over_limit(conn, member.id, now, in_flight=False)


def _reserve_attempt(conn: Connection, service_id: UUID, member_id: UUID, now: datetime) -> UUID:
    """Under the member's wallet lock, check the limit counting the attempts in flight, and
    count this one as failed (``pending``) until it is settled: concurrent attempts cannot
    all pass the check before any of them is recorded."""
    ledger_store.lock_wallet(conn, member_id)
    _refuse_over_limit(conn, member_id, now, in_flight=True)
    attempt_id = uuid7()
    conn.execute(
        insert(coupon_attempts).values(
            id=attempt_id, service_id=service_id, member_id=member_id, succeeded=False,
            error=PENDING, at=now,
        )
    )  # fmt: skip
    return attempt_id


def _settle_attempt(conn: Connection, attempt_id: UUID, error_code: str | None) -> None:
    """A failed attempt keeps its row with the refusal's code; any other outcome drops it."""
    row = coupon_attempts.c.id == attempt_id
    if error_code is None:
        conn.execute(delete(coupon_attempts).where(row))
    else:
        conn.execute(update(coupon_attempts).where(row).values(error=error_code[:60]))


def with_attempt_limit(
    db: Database, service_id: UUID, member_id: UUID, now: datetime, attempt: Callable[[], T]
) -> T:
    """Run ``attempt`` (which opens its own write transaction) under the member's attempt
    limit. The attempt is first counted as failed, in a transaction of its own that checks
    the limit under the member's wallet lock (so concurrent attempts cannot pass it together);
    when it is refused for its code (:data:`FAILED_ATTEMPT_CODES`) it stays counted with the
    refusal's code, else it is dropped. For callers that wrap the redemption in more (the
    API's idempotency key); others use :func:`redeem_with_limit`."""
    attempt_id = db.write(lambda conn: _reserve_attempt(conn, service_id, member_id, now))
    failed: str | None = None
    try:
        return attempt()
    except CofferError as error:
        if error.code in FAILED_ATTEMPT_CODES:
            failed = error.code
        raise
    finally:
        db.write(lambda conn: _settle_attempt(conn, attempt_id, failed))


def redeem_with_limit(
    db: Database,
    service: Service,
    member: Member,
    wallet: WalletRef,
    code_text: str,
    *,
    actor: str,
    now: datetime,
) -> Redemption:
    """:func:`redeem` in its own write transaction, recording a failed attempt when refused."""
    return with_attempt_limit(
        db, service.id, member.id, now,
        lambda: db.write(
            lambda conn: redeem(conn, service, member, wallet, code_text, actor=actor, now=now)
        ),
    )  # fmt: skip


# --- checks shared by redemption and checkout -----------------------------------------------


def _look_up(conn: Connection, service_id: UUID, member: Member, code_text: str,
             now: datetime) -> Found:  # fmt: skip
    """The code, after the rate limit and the member's status; refused if it cannot be used
    by this member now (apart from the limits, counted under the wallet lock)."""
    check_attempts(conn, member, now)
    refused = member_refusal(member.status, member.external_id)
    if refused is not None:
        raise refused
    found = store.find(conn, service_id, code_text)
    _check(found.campaign, found.code, member.id, now)
    return found


def _check(campaign: Campaign, code: Code | None, member_id: UUID, now: datetime) -> None:
    refused = None if code is None else code_refusal(code, member_id)
    refused = refused or campaign_refusal(campaign, now)
    if refused is not None:
        raise refused


def _check_limits(conn: Connection, campaign: Campaign, member_id: UUID) -> int:
    """The member's redemptions of the campaign so far, or the refusal of a limit reached."""
    uses = store.member_redemption_count(conn, campaign.id, member_id)
    if uses >= campaign.per_member_limit:
        raise member_limit_reached(campaign.per_member_limit)
    limit = campaign.redemption_limit
    if campaign.is_public and limit is not None and campaign.redeemed_count >= limit:
        raise limit_reached()
    return uses


def _consume(conn: Connection, found: Found, member_id: UUID, now: datetime) -> None:
    """Mark the bulk code redeemed, or count one more use of the public code; the guarded
    update refuses whoever comes second."""
    campaign, code = found.campaign, found.code
    if code is not None:
        done = conn.execute(
            update(coupon_codes)
            .where(coupon_codes.c.id == code.id, coupon_codes.c.status == "unredeemed")
            .values(status="redeemed", redeemed_by=member_id, redeemed_at=now)
        )
        if done.rowcount != 1:
            latest = store.get_code(conn, code.service_id, code.id)
            raise code_refusal(latest, member_id) or already_redeemed()
        return
    limit = coupon_campaigns.c.redemption_limit
    done = conn.execute(
        update(coupon_campaigns)
        .where(
            coupon_campaigns.c.id == campaign.id,
            limit.is_(None) | (coupon_campaigns.c.redeemed_count < limit),
        )
        .values(redeemed_count=coupon_campaigns.c.redeemed_count + 1)
    )
    if done.rowcount != 1:
        raise limit_reached()


def _insert(conn: Connection, redemption: Redemption) -> Redemption:
    conn.execute(insert(redemptions).values(**store.redemption_row(redemption)))
    return redemption


def _new(
    found: Found,
    member_id: UUID,
    now: datetime,
    *,
    journal_id: UUID | None = None,
    lot_id: UUID | None = None,
    entitlement_ids: tuple[UUID, ...] = (),
    purchase_id: UUID | None = None,
    discount: int | None = None,
) -> Redemption:
    return Redemption(
        id=uuid7(), service_id=found.campaign.service_id, campaign_id=found.campaign.id,
        code_id=None if found.code is None else found.code.id, member_id=member_id,
        status="active", journal_id=journal_id, lot_id=lot_id, entitlement_ids=entitlement_ids,
        purchase_id=purchase_id, discount=discount, created_at=now, cancelled_at=None,
        cancelled_by=None, cancel_reason=None, reversal_journal_id=None,
    )  # fmt: skip


# --- redeeming ------------------------------------------------------------------------------


def redeem(
    conn: Connection,
    service: Service,
    member: Member,
    wallet: WalletRef,
    code_text: str,
    *,
    actor: str,
    now: datetime,
) -> Redemption:
    """Redeem a cash or product coupon for ``member``.

    Cash: a bonus lot of ``cash_amount`` (source ``coupon``), expiring ``bonus_days`` from now.
    Product: ``product_quantity`` of the product, as a purchase would grant it.

    Refusals: 429 ``too_many_coupon_attempts``; 422 ``invalid_coupon_code``; 404
    ``coupon_not_found``; 409 ``member_suspended`` / ``member_closed``, ``coupon_revoked``,
    ``coupon_already_redeemed``, ``coupon_not_yours``, ``coupon_campaign_not_active``,
    ``coupon_not_yet_valid``, ``coupon_expired``, ``coupon_member_limit_reached``,
    ``coupon_limit_reached``, ``coupon_applies_at_checkout`` (a discount coupon).
    """
    found = _look_up(conn, service.id, member, code_text, now)
    campaign = found.campaign
    if campaign.kind == "discount":
        raise Conflict(
            "coupon_applies_at_checkout",
            "This is a discount coupon: enter it when you buy.",
            {"campaign_id": str(campaign.id)},
        )
    ledger_store.lock_wallet(conn, member.id)
    _check_limits(conn, campaign, member.id)
    _consume(conn, found, member.id, now)
    if campaign.kind == "cash":
        assert campaign.cash_amount is not None
        days = campaign.bonus_days
        granted = ledger.grant(
            conn, wallet, amount=campaign.cash_amount, kind="bonus", source="coupon",
            actor=actor, now=now, reason=f"Coupon: {campaign.name}",
            expires_at=None if days is None else now + timedelta(days=days),
            external_id=member.external_id,
        )  # fmt: skip
        redemption = _new(found, member.id, now, journal_id=granted.journal_id,
                          lot_id=granted.lot_id)  # fmt: skip
    else:
        assert campaign.product_id is not None
        assert campaign.product_quantity is not None
        product = products.get_product(conn, service.id, campaign.product_id)
        granted_ids = grants.grant_product(
            conn, service_id=service.id, member_id=member.id, product=product,
            quantity=campaign.product_quantity, purchase_line_id=None, now=now,
        )  # fmt: skip
        redemption = _new(found, member.id, now, entitlement_ids=tuple(granted_ids))
    _insert(conn, redemption)
    emit_event(
        conn, service.id, "coupon.redeemed",
        {"member_id": str(member.id), "external_id": member.external_id,
         "redemption_id": str(redemption.id), "campaign_id": str(campaign.id),
         "kind": campaign.kind, "amount": campaign.cash_amount,
         "entitlement_ids": [str(i) for i in redemption.entitlement_ids]},
        now=now,
    )  # fmt: skip
    return redemption


# --- discount coupons at checkout -----------------------------------------------------------


def discount_coupon(
    conn: Connection, service_id: UUID, member: Member, code_text: str, now: datetime
) -> CouponDiscount:
    """A discount coupon the member may use now, as a rule for the quote engine.

    Reads only (a quote writes nothing). The same refusals as :func:`redeem`, and 409
    ``coupon_not_a_discount`` for a cash or product coupon (redeem it instead). The limits are
    checked again, under the wallet lock, by :func:`use_in_purchase`.
    """
    found = _look_up(conn, service_id, member, code_text, now)
    campaign = found.campaign
    if campaign.kind != "discount" or campaign.discount_rule is None:
        raise Conflict(
            "coupon_not_a_discount",
            "This coupon is not a discount: redeem it on its own.",
            {"campaign_id": str(campaign.id), "kind": campaign.kind},
        )
    uses = _check_limits(conn, campaign, member.id)
    rule = ActiveRule(
        key=RuleKey("coupon", campaign.id, 1), name=campaign.name, rule=campaign.discount_rule,
        member_uses=uses,
    )  # fmt: skip
    return CouponDiscount(
        rule=rule, campaign_id=campaign.id, code_id=None if found.code is None else found.code.id
    )


def use_in_purchase(
    conn: Connection,
    coupon: CouponDiscount,
    member: Member,
    purchase_id: UUID,
    discount: int,
    now: datetime,
) -> Redemption:
    """Consume the coupon for a purchase that took ``discount`` off, in the purchase's
    transaction: the code is marked redeemed (or the public count grows) and a redemption row
    records the purchase and the discount. Raises the refusal (e.g. ``coupon_already_redeemed``,
    ``coupon_limit_reached``) if a concurrent purchase or redemption used it first."""
    discount = parse_amount(discount, field="discount", allow_zero=True)
    ledger_store.lock_wallet(conn, member.id)
    campaign = store.get_campaign(conn, member.service_id, coupon.campaign_id)
    code = None if coupon.code_id is None else store.get_code(
        conn, member.service_id, coupon.code_id
    )  # fmt: skip
    _check(campaign, code, member.id, now)
    found = Found(campaign, code, "" if code is None else code.code)
    _check_limits(conn, campaign, member.id)
    _consume(conn, found, member.id, now)
    return _insert(conn, _new(found, member.id, now, purchase_id=purchase_id, discount=discount))


# --- cancelling -----------------------------------------------------------------------------


def _reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("missing_reason", "Give a reason.", {"field": "reason"})
    if len(value) > MAX_REASON or not is_storable_text(value, multiline=True):
        raise InvalidInput(
            "invalid_reason", f"reason must be at most {MAX_REASON} characters.",
            {"field": "reason"},
        )  # fmt: skip
    return value.strip()


def cancel_redemption(
    conn: Connection,
    service: Service,
    redemption_id: UUID,
    *,
    actor: str,
    reason: str,
    now: datetime,
    resolve: WalletResolver,
) -> Redemption:
    """Undo a redemption whose effect is still whole; the code stays redeemed (it is not
    given back) and the redemption becomes ``cancelled``.

    Cash: the bonus lot is taken back whole, only if none of it was spent, held or expired
    (409 ``coupon_cash_used``). Product: the entitlements are revoked, only if none was used
    (409 ``coupon_product_in_use``). A discount in a purchase: 409
    ``coupon_redeemed_in_purchase`` (cancel the purchase). 404 ``redemption_not_found``;
    409 ``redemption_already_cancelled``; 422 ``missing_reason`` / ``invalid_reason``.
    """
    reason = _reason(reason)
    redemption = store.get_redemption(conn, service.id, redemption_id)
    ledger_store.lock_wallet(conn, redemption.member_id)
    redemption = store.get_redemption(conn, service.id, redemption_id)
    if redemption.status == "cancelled":
        raise Conflict("redemption_already_cancelled", "This redemption is already cancelled.")
    if redemption.purchase_id is not None:
        raise Conflict(
            "coupon_redeemed_in_purchase",
            "This coupon was a discount in a purchase: cancel the purchase instead.",
            {"purchase_id": str(redemption.purchase_id)},
        )
    reversal: UUID | None = None
    if redemption.lot_id is not None:
        wallet = resolve(conn, service.id, redemption.member_id)
        try:
            reversal = takebacks.revoke_grant(
                conn, wallet, redemption.lot_id, actor=actor, now=now, reason=reason
            )
        except Conflict as error:
            raise Conflict(
                "coupon_cash_used",
                "Some of the coupon's cash has been used: the redemption cannot be cancelled.",
                error.details,
            ) from None
    else:
        ids = list(redemption.entitlement_ids)
        if grants.listed_in_use(conn, redemption.member_id, ids, now):
            raise Conflict(
                "coupon_product_in_use",
                "What the coupon granted has been used: the redemption cannot be cancelled.",
            )
        grants.revoke_listed(conn, redemption.member_id, ids, now)
    conn.execute(
        update(redemptions)
        .where(redemptions.c.id == redemption.id, redemptions.c.status == "active")
        .values(status="cancelled", cancelled_at=now, cancelled_by=actor, cancel_reason=reason,
                reversal_journal_id=reversal)
    )  # fmt: skip
    return store.get_redemption(conn, service.id, redemption.id)


def is_reversible(redemption: Redemption) -> bool:
    """Whether a cancel may be tried (the effect may still have been used meanwhile)."""
    return redemption.status == "active" and redemption.purchase_id is None


# --- reads ----------------------------------------------------------------------------------


def _code_text(code: str | None, campaign: Campaign) -> str | None:
    return codes.format_code(code) if code is not None else campaign.public_code


def member_coupons(conn: Connection, member: Member) -> MemberCoupons:
    """Codes issued to the member, and the member's redemptions, newest first."""
    campaigns: dict[UUID, Campaign] = {}

    def campaign(campaign_id: UUID) -> Campaign:
        if campaign_id not in campaigns:
            campaigns[campaign_id] = store.get_campaign(conn, member.service_id, campaign_id)
        return campaigns[campaign_id]

    issued_rows = conn.execute(
        select(coupon_codes)
        .where(coupon_codes.c.issued_to == member.id)
        .order_by(coupon_codes.c.id.desc())
        .limit(MEMBER_LIST_LIMIT)
    ).mappings()
    issued = tuple(
        IssuedCode(code, campaign(code.campaign_id))
        for code in (store.code_of(row) for row in issued_rows)
    )
    redeemed_rows = conn.execute(
        select(redemptions, coupon_codes.c.code.label("code_text"))
        .select_from(
            redemptions.outerjoin(coupon_codes, coupon_codes.c.id == redemptions.c.code_id)
        )
        .where(redemptions.c.member_id == member.id)
        .order_by(redemptions.c.id.desc())
        .limit(MEMBER_LIST_LIMIT)
    ).mappings()  # fmt: skip
    views = []
    for row in redeemed_rows:
        owner = campaign(row["campaign_id"])
        views.append(
            RedemptionView(store.redemption_of(row), owner, _code_text(row["code_text"], owner))
        )
    return MemberCoupons(issued=issued, redemptions=tuple(views))
