"""The coupons' SQL for reading: rows as values, and finding a code as typed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, RowMapping

from coffer.coupons import codes
from coffer.coupons.model import Campaign, Code, Found, Redemption, invalid_code, not_found
from coffer.coupons.tables import coupon_attempts, coupon_campaigns, coupon_codes
from coffer.coupons.tables import coupon_redemptions as redemptions
from coffer.kernel.errors import NotFound
from coffer.pricing.model import parse_discount_rule


def campaign_of(row: RowMapping) -> Campaign:
    rule = row["discount_rule"]
    return Campaign(
        id=row["id"], service_id=row["service_id"], name=row["name"], kind=row["kind"],
        status=row["status"], cash_amount=row["cash_amount"], bonus_days=row["bonus_days"],
        discount_rule=None if rule is None else parse_discount_rule(rule),
        product_id=row["product_id"], product_quantity=row["product_quantity"],
        code_mode=row["code_mode"], public_code=row["public_code"],
        redemption_limit=row["redemption_limit"], redeemed_count=row["redeemed_count"],
        per_member_limit=row["per_member_limit"], valid_from=row["valid_from"],
        valid_until=row["valid_until"], created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def code_of(row: RowMapping) -> Code:
    return Code(
        id=row["id"], service_id=row["service_id"], campaign_id=row["campaign_id"],
        code=row["code"], status=row["status"], issued_to=row["issued_to"],
        redeemed_by=row["redeemed_by"], redeemed_at=row["redeemed_at"],
        revoked_at=row["revoked_at"], created_at=row["created_at"],
    )  # fmt: skip


def redemption_of(row: RowMapping) -> Redemption:
    return Redemption(
        id=row["id"], service_id=row["service_id"], campaign_id=row["campaign_id"],
        code_id=row["code_id"], member_id=row["member_id"], status=row["status"],
        journal_id=row["journal_id"], lot_id=row["lot_id"],
        entitlement_ids=tuple(UUID(str(i)) for i in row["entitlement_ids"] or ()),
        purchase_id=row["purchase_id"], discount=row["discount"], created_at=row["created_at"],
        cancelled_at=row["cancelled_at"], cancelled_by=row["cancelled_by"],
        cancel_reason=row["cancel_reason"], reversal_journal_id=row["reversal_journal_id"],
    )  # fmt: skip


def campaign_not_found() -> NotFound:
    return NotFound("campaign_not_found", "No such coupon campaign in this service.")


def _one(conn: Connection, table: Table, row_id: UUID, service_id: UUID) -> RowMapping | None:
    """The service's row ``row_id`` of ``table`` (None: missing, or another service's)."""
    query = select(table).where(table.c.id == row_id, table.c.service_id == service_id)
    return conn.execute(query).mappings().first()


def get_campaign(conn: Connection, service_id: UUID, campaign_id: UUID) -> Campaign:
    row = _one(conn, coupon_campaigns, campaign_id, service_id)
    if row is None:
        raise campaign_not_found()
    return campaign_of(row)


def get_code(conn: Connection, service_id: UUID, code_id: UUID) -> Code:
    row = _one(conn, coupon_codes, code_id, service_id)
    if row is None:
        raise not_found()
    return code_of(row)


def get_redemption(conn: Connection, service_id: UUID, redemption_id: UUID) -> Redemption:
    row = _one(conn, redemptions, redemption_id, service_id)
    if row is None:
        raise NotFound("redemption_not_found", "No such coupon redemption in this service.")
    return redemption_of(row)


def find(conn: Connection, service_id: UUID, text: object) -> Found:
    """The code as typed: a bulk code of this service, else a public code.

    ``invalid_coupon_code`` when the text cannot be a code at all (or is a bulk code with a
    wrong check character); ``coupon_not_found`` when no code of this service matches (another
    service's code is as unknown as a missing one).
    """
    public = codes.normalise_public(text)
    if public is None:
        raise invalid_code()
    if codes.is_valid(public):
        row = (
            conn.execute(
                select(coupon_codes).where(
                    coupon_codes.c.service_id == service_id, coupon_codes.c.code == public
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            code = code_of(row)
            return Found(get_campaign(conn, service_id, code.campaign_id), code, public)
    row = (
        conn.execute(
            select(coupon_campaigns).where(
                coupon_campaigns.c.service_id == service_id,
                coupon_campaigns.c.public_code == public,
            )
        )
        .mappings()
        .first()
    )
    if row is not None:
        return Found(campaign_of(row), None, public)
    if codes.looks_like_bulk(public) and not codes.is_valid(public):
        raise invalid_code()
    raise not_found()


def member_redemption_count(conn: Connection, campaign_id: UUID, member_id: UUID) -> int:
    """Redemptions of the campaign by the member, cancelled ones included (a cancelled
    redemption used its chance: the code or the count is not given back)."""
    return int(
        conn.execute(
            select(func.count()).where(
                redemptions.c.campaign_id == campaign_id, redemptions.c.member_id == member_id
            )
        ).scalar_one()
    )


def failed_attempts(conn: Connection, member_id: UUID, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                coupon_attempts.c.member_id == member_id,
                coupon_attempts.c.succeeded.is_(False),
                coupon_attempts.c.at > since,
            )
        ).scalar_one()
    )


def redemption_row(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": redemption.id, "service_id": redemption.service_id,
        "campaign_id": redemption.campaign_id, "code_id": redemption.code_id,
        "member_id": redemption.member_id, "status": redemption.status,
        "journal_id": redemption.journal_id, "lot_id": redemption.lot_id,
        "entitlement_ids": [str(i) for i in redemption.entitlement_ids],
        "purchase_id": redemption.purchase_id, "discount": redemption.discount,
        "created_at": redemption.created_at, "cancelled_at": None, "cancelled_by": None,
        "cancel_reason": None, "reversal_journal_id": None,
    }  # fmt: skip
