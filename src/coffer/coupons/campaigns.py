"""Coupon campaigns: create, activate, end; their codes: generate, issue, revoke, export.

Every function runs in the caller's transaction and checks everything before it writes, so a
refused call changes nothing. A campaign's life is ``draft -> active -> ended`` (a draft may
also end without running); its rule does not change once created (a redemption or a purchase
points at it as it was). The rules are in ``docs/coupons.md``.

- **cash**: each redemption grants ``cash_amount`` of bonus cash, expiring ``bonus_days``
  after the redemption (or never);
- **discount**: the rule (pricing's JSON form, :func:`coffer.pricing.model.parse_discount_rule`)
  applies in the quote of a purchase made with the code; it is not redeemed on its own;
- **product**: each redemption grants ``product_quantity`` of a product of the service that
  can be granted (not metered, not a package).

Codes are ``bulk`` (generated or issued, each redeemable once) or one ``public`` code chosen
by the marketer, with an optional total ``redemption_limit``. ``per_member_limit`` caps the
redemptions of one member in either mode.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, null, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from coffer.catalog import products
from coffer.coupons import codes, store
from coffer.coupons.model import Campaign, Code, Inquiry, Redemption
from coffer.coupons.tables import (
    CAMPAIGN_KINDS,
    CODE_MODES,
    coupon_campaigns,
    coupon_codes,
)
from coffer.coupons.tables import coupon_redemptions as redemptions
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.pricing.model import MAX_RULE_DAYS, parse_discount_rule
from coffer.tenancy.model import Member
from coffer.tenancy.tables import members

#: Most codes one call generates.
MAX_GENERATE = 10_000
MAX_NAME = 200
MAX_PRODUCT_QUANTITY = 10_000
MAX_LIMIT = 1_000_000_000
#: Product kinds a coupon can grant (``entitlements.grants.grant_product``).
GRANTABLE_KINDS = ("item", "period_pass", "quantity_pass", "mixed", "time_coupon")
#: Status changes: action -> (statuses it starts from, status it ends in).
TRANSITIONS = {"activate": (("draft",), "active"), "end": (("draft", "active"), "ended")}
_GENERATE_TRIES = 5
_CODE_FIELDS = tuple(f.name for f in fields(Code))
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CodeCounts:
    unredeemed: int = 0
    redeemed: int = 0
    revoked: int = 0
    #: Redemptions (for a public code, the codes have none of the above).
    redemptions: int = 0
    cancelled: int = 0


def _bad(code: str, message: str, field: str) -> InvalidInput:
    return InvalidInput(code, message, {"field": field})


def _whole(value: object, low: int, high: int, code: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(code, f"{field} must be a whole number from {low} to {high}.", field)
    return value


def _time(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _bad("invalid_validity", f"{field} must be a time with a time zone.", field)
    return value


def _unused(field: str, value: object, kind: str) -> None:
    if value is not None:
        raise _bad("field_not_for_kind", f"{field} is not used by a {kind} campaign.", field)


def _kind_fields(
    conn: Connection,
    service_id: UUID,
    kind: str,
    *,
    cash_amount: object,
    bonus_days: object,
    discount_rule: object,
    product_id: UUID | None,
    product_quantity: object,
) -> dict[str, Any]:
    """The kind's own columns, checked; the other kinds' fields must be left out."""
    values: dict[str, Any] = {
        "cash_amount": None, "bonus_days": None, "discount_rule": None, "product_id": None,
        "product_quantity": None,
    }  # fmt: skip
    if kind == "cash":
        values["cash_amount"] = parse_amount(cash_amount, field="cash_amount")
        if bonus_days is not None:
            values["bonus_days"] = _whole(
                bonus_days, 1, MAX_RULE_DAYS, "invalid_bonus_days", "bonus_days"
            )
    else:
        _unused("cash_amount", cash_amount, kind)
        _unused("bonus_days", bonus_days, kind)
    if kind == "discount":
        if discount_rule is None:
            raise _bad("missing_discount_rule", "A discount campaign needs its rule.", "rule")
        values["discount_rule"] = parse_discount_rule(discount_rule).as_json()
    else:
        _unused("discount_rule", discount_rule, kind)
        values["discount_rule"] = null()  # SQL NULL, not the JSON value null
    if kind == "product":
        if product_id is None:
            raise _bad("missing_product", "A product campaign needs its product.", "product_id")
        product = products.get_product(conn, service_id, product_id)
        if product.kind not in GRANTABLE_KINDS:
            raise _bad(
                "product_not_grantable",
                f"A {product.kind} product cannot be granted by a coupon.",
                "product_id",
            )
        values["product_id"] = product.id
        values["product_quantity"] = _whole(
            1 if product_quantity is None else product_quantity,
            1, MAX_PRODUCT_QUANTITY, "invalid_quantity", "product_quantity",
        )  # fmt: skip
    else:
        _unused("product_id", product_id, kind)
        _unused("product_quantity", product_quantity, kind)
    return values


def _mode_fields(
    conn: Connection,
    service_id: UUID,
    code_mode: str,
    public_code: object,
    redemption_limit: object,
) -> dict[str, Any]:
    if code_mode not in CODE_MODES:
        raise _bad("invalid_code_mode", f"code_mode must be one of {CODE_MODES}.", "code_mode")
    if code_mode == "bulk":
        _unused("public_code", public_code, "bulk-code")
        _unused("redemption_limit", redemption_limit, "bulk-code")
        return {"public_code": None, "redemption_limit": None}
    normalised = codes.normalise_public(public_code)
    if normalised is None or codes.is_valid(normalised):
        raise _bad(
            "invalid_public_code",
            "A public code is 4 to 32 letters and digits (hyphens are ignored), and not shaped "
            "like a generated code.",
            "public_code",
        )
    _public_code_free(conn, service_id, normalised)
    limit = None
    if redemption_limit is not None:
        limit = _whole(
            redemption_limit, 1, MAX_LIMIT, "invalid_redemption_limit", "redemption_limit"
        )
    return {"public_code": normalised, "redemption_limit": limit}


def _public_code_free(conn: Connection, service_id: UUID, code: str) -> None:
    taken = conn.execute(
        select(coupon_campaigns.c.id).where(
            coupon_campaigns.c.service_id == service_id, coupon_campaigns.c.public_code == code
        )
    ).first()
    if taken is not None:
        raise Conflict(
            "public_code_taken",
            f"Another campaign of this service already has the code {code}.",
            {"field": "public_code"},
        )


def create_campaign(
    conn: Connection,
    service_id: UUID,
    *,
    name: str,
    kind: str,
    code_mode: str,
    valid_from: datetime,
    valid_until: datetime,
    actor: str,
    now: datetime,
    cash_amount: int | None = None,
    bonus_days: int | None = None,
    discount_rule: object = None,
    product_id: UUID | None = None,
    product_quantity: int | None = None,
    public_code: str | None = None,
    redemption_limit: int | None = None,
    per_member_limit: int = 1,
) -> Campaign:
    """A new campaign in ``draft``; see the module docstring for the fields of each kind."""
    if (
        not isinstance(name, str)
        or not 1 <= len(name.strip()) <= MAX_NAME
        or not (is_storable_text(name))
    ):
        raise _bad("invalid_name", f"name must be 1 to {MAX_NAME} characters.", "name")
    if kind not in CAMPAIGN_KINDS:
        raise _bad("invalid_kind", f"kind must be one of {CAMPAIGN_KINDS}.", "kind")
    starts, ends = _time(valid_from, "valid_from"), _time(valid_until, "valid_until")
    if ends <= starts:
        raise _bad("invalid_validity", "valid_until must be after valid_from.", "valid_until")
    values = {
        **_kind_fields(
            conn, service_id, kind, cash_amount=cash_amount, bonus_days=bonus_days,
            discount_rule=discount_rule, product_id=product_id,
            product_quantity=product_quantity,
        ),
        **_mode_fields(conn, service_id, code_mode, public_code, redemption_limit),
        "per_member_limit": _whole(
            per_member_limit, 1, MAX_LIMIT, "invalid_per_member_limit", "per_member_limit"
        ),
    }  # fmt: skip
    campaign_id = uuid7()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(coupon_campaigns).values(
                    id=campaign_id, service_id=service_id, name=name.strip(), kind=kind,
                    status="draft", code_mode=code_mode, redeemed_count=0, valid_from=starts,
                    valid_until=ends, created_by=actor, created_at=now, updated_at=now,
                    **values,
                )
            )  # fmt: skip
    except IntegrityError:  # the same public code, created at the same moment
        _public_code_free(conn, service_id, str(values["public_code"]))
        raise
    return store.get_campaign(conn, service_id, campaign_id)


def get_campaign(conn: Connection, service_id: UUID, campaign_id: UUID) -> Campaign:
    """A campaign of this service (``campaign_not_found`` for another service's)."""
    return store.get_campaign(conn, service_id, campaign_id)


def list_campaigns(
    conn: Connection, service_id: UUID, *, status: str | None = None, limit: int = 200
) -> list[Campaign]:
    """The service's campaigns, newest first."""
    query = select(coupon_campaigns).where(coupon_campaigns.c.service_id == service_id)
    if status is not None:
        query = query.where(coupon_campaigns.c.status == status)
    rows = conn.execute(query.order_by(coupon_campaigns.c.id.desc()).limit(limit)).mappings()
    return [store.campaign_of(row) for row in rows]


def _change_status(
    conn: Connection, service_id: UUID, campaign_id: UUID, action: str, now: datetime
) -> Campaign:
    starts, to = TRANSITIONS[action]
    campaign = store.get_campaign(conn, service_id, campaign_id)
    done = conn.execute(
        update(coupon_campaigns)
        .where(coupon_campaigns.c.id == campaign.id, coupon_campaigns.c.status.in_(starts))
        .values(status=to, updated_at=now)
    )
    if done.rowcount != 1:
        raise Conflict(
            "invalid_status_change",
            f"A campaign in {campaign.status} cannot {action}.",
            {"status": campaign.status},
        )
    return store.get_campaign(conn, service_id, campaign_id)


def activate(conn: Connection, service_id: UUID, campaign_id: UUID, *, now: datetime) -> Campaign:
    """``draft -> active``: its codes can be redeemed inside the validity window."""
    return _change_status(conn, service_id, campaign_id, "activate", now)


def end(conn: Connection, service_id: UUID, campaign_id: UUID, *, now: datetime) -> Campaign:
    """``draft|active -> ended``: no code of it is redeemed any more (for good)."""
    return _change_status(conn, service_id, campaign_id, "end", now)


def counts(conn: Connection, campaign: Campaign) -> CodeCounts:
    by_status: dict[str, int] = dict(
        conn.execute(
            select(coupon_codes.c.status, func.count())
            .where(coupon_codes.c.campaign_id == campaign.id)
            .group_by(coupon_codes.c.status)
        ).all()
    )
    by_redemption: dict[str, int] = dict(
        conn.execute(
            select(redemptions.c.status, func.count())
            .where(redemptions.c.campaign_id == campaign.id)
            .group_by(redemptions.c.status)
        ).all()
    )
    return CodeCounts(
        unredeemed=int(by_status.get("unredeemed", 0)),
        redeemed=int(by_status.get("redeemed", 0)),
        revoked=int(by_status.get("revoked", 0)),
        redemptions=int(sum(by_redemption.values())),
        cancelled=int(by_redemption.get("cancelled", 0)),
    )


# --- codes ----------------------------------------------------------------------------------


def _can_hold_codes(campaign: Campaign) -> None:
    if campaign.is_public:
        raise Conflict("campaign_not_bulk", "A public-code campaign has no generated codes.")
    if campaign.status == "ended":
        raise Conflict("campaign_ended", "The campaign has ended.")


def _existing(conn: Connection, service_id: UUID, candidates: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(candidates), _CHUNK):
        chunk = candidates[start : start + _CHUNK]
        found.update(
            conn.execute(
                select(coupon_codes.c.code).where(
                    coupon_codes.c.service_id == service_id, coupon_codes.c.code.in_(chunk)
                )
            ).scalars()
        )
    return found


def _new_code(campaign: Campaign, code: str, issued_to: UUID | None, now: datetime) -> Code:
    return Code(
        id=uuid7(), service_id=campaign.service_id, campaign_id=campaign.id, code=code,
        status="unredeemed", issued_to=issued_to, redeemed_by=None, redeemed_at=None,
        revoked_at=None, created_at=now,
    )  # fmt: skip


def _insert_codes(
    conn: Connection, campaign: Campaign, count: int, now: datetime, issued_to: UUID | None
) -> list[Code]:
    """``count`` new codes; a collision with an existing code (about 1 in 10^22 per code) is
    replaced by a fresh one, and a concurrent insert of the same code retried."""
    for _ in range(_GENERATE_TRIES):
        fresh: set[str] = set()
        while len(fresh) < count:
            fresh.update(codes.generate() for _ in range(count - len(fresh)))
            fresh -= _existing(conn, campaign.service_id, sorted(fresh))
        made = [_new_code(campaign, code, issued_to, now) for code in sorted(fresh)]
        rows = [{f: getattr(code, f) for f in _CODE_FIELDS} for code in made]
        try:
            with conn.begin_nested():
                conn.execute(insert(coupon_codes), rows)
        except IntegrityError:
            continue
        return made
    raise Conflict("code_generation_failed", "Could not generate unique codes; try again.")


def generate_codes(conn: Connection, campaign: Campaign, count: int, now: datetime) -> list[Code]:
    """``count`` (1 to 10000) new unredeemed codes of a bulk campaign that has not ended."""
    count = _whole(count, 1, MAX_GENERATE, "invalid_count", "count")
    _can_hold_codes(campaign)
    return _insert_codes(conn, campaign, count, now, None)


def issue_to_member(conn: Connection, campaign: Campaign, member: Member, now: datetime) -> Code:
    """One new code of a bulk campaign that only ``member`` can redeem."""
    _can_hold_codes(campaign)
    if member.service_id != campaign.service_id:
        raise NotFound("member_not_found", "No such member in this service.")
    if member.status == "closed":
        raise Conflict("member_closed", "A closed member cannot be issued a coupon.")
    return _insert_codes(conn, campaign, 1, now, member.id)[0]


def revoke_unredeemed(
    conn: Connection,
    service_id: UUID,
    *,
    now: datetime,
    campaign_id: UUID | None = None,
    code_ids: list[UUID] | None = None,
) -> int:
    """Revoke the campaign's (or the listed) codes that are still unredeemed; returns how many.

    Redeemed codes stay redeemed (cancel the redemption instead)."""
    if (campaign_id is None) == (code_ids is None):
        raise InvalidInput("invalid_revoke", "Name a campaign or a list of codes.")
    query = update(coupon_codes).where(
        coupon_codes.c.service_id == service_id, coupon_codes.c.status == "unredeemed"
    )
    if campaign_id is not None:
        store.get_campaign(conn, service_id, campaign_id)
        query = query.where(coupon_codes.c.campaign_id == campaign_id)
    else:
        assert code_ids is not None
        if not code_ids or len(code_ids) > MAX_GENERATE:
            raise InvalidInput("invalid_revoke", f"List 1 to {MAX_GENERATE} codes.")
        query = query.where(coupon_codes.c.id.in_(code_ids))
    done = conn.execute(query.values(status="revoked", revoked_at=now))
    return int(done.rowcount)


# --- reading out ----------------------------------------------------------------------------

_issued = aliased(members, name="issued_member")
_redeemer = aliased(members, name="redeemer")

CSV_HEADER = ("code", "status", "issued_to", "redeemed_by", "redeemed_at", "redemption_status")


def export_csv(conn: Connection, campaign: Campaign) -> str:
    """Every code of a bulk campaign as CSV (formatted code, status, the member it was issued
    to and who redeemed it by external id, when, and the redemption's status); a public
    campaign's one code with its redemption count instead."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if campaign.is_public:
        campaign = store.get_campaign(conn, campaign.service_id, campaign.id)  # the latest count
        writer.writerow(("code", "status", "redeemed_count", "redemption_limit"))
        writer.writerow(
            (campaign.public_code, campaign.status, campaign.redeemed_count,
             "" if campaign.redemption_limit is None else campaign.redemption_limit)
        )  # fmt: skip
        return out.getvalue()
    writer.writerow(CSV_HEADER)
    rows = conn.execute(
        select(
            coupon_codes.c.code, coupon_codes.c.status, _issued.c.external_id.label("issued"),
            _redeemer.c.external_id.label("redeemer"), coupon_codes.c.redeemed_at,
            redemptions.c.status.label("redemption_status"),
        )
        .select_from(
            coupon_codes.outerjoin(_issued, _issued.c.id == coupon_codes.c.issued_to)
            .outerjoin(_redeemer, _redeemer.c.id == coupon_codes.c.redeemed_by)
            .outerjoin(redemptions, redemptions.c.code_id == coupon_codes.c.id)
        )
        .where(coupon_codes.c.campaign_id == campaign.id)
        .order_by(coupon_codes.c.id)
    ).all()  # fmt: skip
    for row in rows:
        writer.writerow(
            (codes.format_code(row.code), row.status, row.issued or "", row.redeemer or "",
             row.redeemed_at.isoformat() if row.redeemed_at else "", row.redemption_status or "")
        )  # fmt: skip
    return out.getvalue()


def _external_id(conn: Connection, member_id: UUID | None) -> str | None:
    if member_id is None:
        return None
    found: str | None = conn.execute(
        select(members.c.external_id).where(members.c.id == member_id)
    ).scalar_one_or_none()
    return found


def inquire(conn: Connection, service_id: UUID, code_text: str) -> Inquiry:
    """Everything about a code: its campaign, status, who it was issued to, who redeemed it
    and when, and the redemption's status; for a public code its redemption count.

    ``invalid_coupon_code`` / ``coupon_not_found`` as in redemption."""
    found = store.find(conn, service_id, code_text)
    campaign, code = found.campaign, found.code
    if code is None:
        return Inquiry(
            code=found.text, kind="public", status="public", campaign=campaign, issued_to=None,
            redeemed_by=None, redeemed_at=None, redemption_status=None, redemption_id=None,
            redeemed_count=campaign.redeemed_count,
        )  # fmt: skip
    redemption = (
        conn.execute(select(redemptions.c.id, redemptions.c.status).where(
            redemptions.c.code_id == code.id
        )).first()
    )  # fmt: skip
    return Inquiry(
        code=codes.format_code(code.code), kind="bulk", status=code.status, campaign=campaign,
        issued_to=_external_id(conn, code.issued_to),
        redeemed_by=_external_id(conn, code.redeemed_by), redeemed_at=code.redeemed_at,
        redemption_status=None if redemption is None else redemption.status,
        redemption_id=None if redemption is None else redemption.id, redeemed_count=None,
    )  # fmt: skip


def recent_redemptions(
    conn: Connection, campaign: Campaign, limit: int = 50
) -> list[tuple[Redemption, str, str | None]]:
    """The campaign's latest redemptions: each with the member's external id and the code."""
    rows = conn.execute(
        select(redemptions, members.c.external_id, coupon_codes.c.code.label("code_text"))
        .select_from(
            redemptions.join(members, members.c.id == redemptions.c.member_id).outerjoin(
                coupon_codes, coupon_codes.c.id == redemptions.c.code_id
            )
        )
        .where(redemptions.c.campaign_id == campaign.id)
        .order_by(redemptions.c.id.desc())
        .limit(limit)
    ).mappings()
    return [
        (
            store.redemption_of(row),
            row["external_id"],
            codes.format_code(row["code_text"]) if row["code_text"] else campaign.public_code,
        )
        for row in rows
    ]
