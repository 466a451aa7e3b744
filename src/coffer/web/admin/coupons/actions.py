"""Coupon changes from the admin web: the coupons' own function, then one audit row.

Each runs in the caller's transaction, so the change and its audit row (actions ``coupons.*``)
commit together or not at all; a refusal raises before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.audit import service as audit
from coffer.coupons import campaigns, codes, redeeming
from coffer.coupons.model import Campaign, Code, Redemption
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.desk.operator import Operator


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service_id: UUID,
    target: tuple[str, object],
    after: Any,
    now: datetime,
    *,
    before: Any = None,
    reason: str = "",
) -> None:
    target_type, target_id = target
    audit.record(
        conn, actor=who.audit_actor, action=action, target_type=target_type,
        target_id=str(target_id), service_id=service_id, before=before, after=after,
        reason=reason, address=who.address, now=now,
    )  # fmt: skip


def _summary(campaign: Campaign) -> dict[str, Any]:
    rule = campaign.discount_rule
    return {
        "name": campaign.name, "kind": campaign.kind, "status": campaign.status,
        "code_mode": campaign.code_mode, "cash_amount": campaign.cash_amount,
        "bonus_days": campaign.bonus_days,
        "discount_rule": None if rule is None else rule.as_json(),
        "product_id": campaign.product_id, "product_quantity": campaign.product_quantity,
        "public_code": campaign.public_code, "redemption_limit": campaign.redemption_limit,
        "per_member_limit": campaign.per_member_limit, "valid_from": campaign.valid_from,
        "valid_until": campaign.valid_until,
    }  # fmt: skip


def create_campaign(
    conn: Connection, service_id: UUID, spec: dict[str, Any], *, who: Operator, now: datetime
) -> Campaign:
    made = campaigns.create_campaign(conn, service_id, actor=who.audit_actor, now=now, **spec)
    _record(conn, who, "coupons.campaign_create", service_id, ("coupon_campaign", made.id),
            _summary(made), now)  # fmt: skip
    return made


def change_status(
    conn: Connection, service_id: UUID, campaign_id: UUID, action: str, *, who: Operator,
    now: datetime,
) -> Campaign:  # fmt: skip
    """``action`` is ``activate`` or ``end``."""
    change = campaigns.activate if action == "activate" else campaigns.end
    before = campaigns.get_campaign(conn, service_id, campaign_id)
    after = change(conn, service_id, campaign_id, now=now)
    _record(conn, who, f"coupons.campaign_{action}", service_id, ("coupon_campaign", after.id),
            {"status": after.status}, now, before={"status": before.status})  # fmt: skip
    return after


def generate(
    conn: Connection, service_id: UUID, campaign_id: UUID, count: int, *, who: Operator,
    now: datetime,
) -> list[Code]:  # fmt: skip
    campaign = campaigns.get_campaign(conn, service_id, campaign_id)
    made = campaigns.generate_codes(conn, campaign, count, now)
    _record(conn, who, "coupons.codes_generate", service_id, ("coupon_campaign", campaign.id),
            {"count": len(made)}, now)  # fmt: skip
    return made


def export(
    conn: Connection, service_id: UUID, campaign_id: UUID, *, who: Operator, now: datetime
) -> tuple[Campaign, str]:
    """The CSV, and an audit row saying who downloaded the codes (they are bearer secrets)."""
    campaign = campaigns.get_campaign(conn, service_id, campaign_id)
    text = campaigns.export_csv(conn, campaign)
    _record(conn, who, "coupons.codes_export", service_id, ("coupon_campaign", campaign.id),
            {"rows": max(0, text.count("\n") - 1)}, now)  # fmt: skip
    return campaign, text


def revoke(
    conn: Connection, service_id: UUID, campaign_id: UUID, *, who: Operator, now: datetime
) -> int:
    count = campaigns.revoke_unredeemed(conn, service_id, now=now, campaign_id=campaign_id)
    _record(conn, who, "coupons.codes_revoke", service_id, ("coupon_campaign", campaign_id),
            {"revoked": count}, now)  # fmt: skip
    return count


def issue(
    conn: Connection, service_id: UUID, campaign_id: UUID, external_id: str, *, who: Operator,
    now: datetime,
) -> Code:  # fmt: skip
    campaign = campaigns.get_campaign(conn, service_id, campaign_id)
    member = tenancy.get_member(conn, service_id, external_id)
    code = campaigns.issue_to_member(conn, campaign, member, now)
    _record(conn, who, "coupons.code_issue", service_id, ("coupon_code", code.id),
            {"campaign_id": campaign.id, "member": member.external_id,
             "code": codes.format_code(code.code)}, now)  # fmt: skip
    return code


def cancel_redemption(
    conn: Connection, service: Service, redemption_id: UUID, reason: str, *, who: Operator,
    now: datetime,
) -> Redemption:  # fmt: skip
    cancelled = redeeming.cancel_redemption(
        conn, service, redemption_id, actor=who.journal_actor, reason=reason, now=now,
        resolve=app.resolve_wallet,
    )  # fmt: skip
    _record(conn, who, "coupons.redemption_cancel", service.id, ("coupon_redemption",
            cancelled.id), {"status": cancelled.status,
            "reversal_journal_id": cancelled.reversal_journal_id}, now,
            before={"status": "active"}, reason=reason)  # fmt: skip
    return cancelled
