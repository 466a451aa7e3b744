"""What the "Coupons" tab shows and does, and a coupon's refusals in the member's words.

- the page lists the codes issued to the member (unused first, then used or no longer valid)
  and the member's redemptions, each with what it gave: bonus cash, a product, or a discount
  in a purchase (a link to it);
- a redemption goes through :func:`coffer.coupons.redeeming.redeem_with_limit` (the per-member
  rate limit: failed attempts are counted even though the redemption itself is rolled back),
  once per form: the form's key is claimed in the idempotency table in the redemption's own
  transaction, so a double submit redeems once and the second finds the first redemption;
- :func:`refusal` turns every coupon error code (from the coupons tab and from the shop's coupon
  box) into a sentence for the member.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app
from coffer.catalog.model import Product
from coffer.catalog.shop_queries import products_by_ids
from coffer.coupons import codes, redeeming
from coffer.coupons.model import IssuedCode, MemberCoupons, RedemptionView
from coffer.db import idempotency
from coffer.db.transaction import Database
from coffer.kernel.errors import CofferError, InvalidInput
from coffer.ledger import queries
from coffer.ledger.model import Balance
from coffer.tenancy.cash_sessions import CashSession
from coffer.web.admin.desk.forms import Gettext
from coffer.web.formatting import local_time

#: The redeem form's key: 32 hex digits, made when the page is shown.
KEY = re.compile(r"[0-9a-f]{32}")
#: The longest text the code box takes (a bulk code with hyphens is 19 characters).
CODE_MAX = 64


@dataclass(frozen=True, slots=True)
class CouponsView:
    coupons: MemberCoupons
    balance: Balance
    #: Products that product coupons give, by id.
    products: dict[UUID, Product]

    @property
    def unused(self) -> list[IssuedCode]:
        return [i for i in self.coupons.issued if i.code.status == "unredeemed"]

    @property
    def done(self) -> list[IssuedCode]:
        """Issued codes used or revoked."""
        return [i for i in self.coupons.issued if i.code.status != "unredeemed"]

    def redemption(self, redemption_id: UUID | None) -> RedemptionView | None:
        if redemption_id is None:
            return None
        return next((r for r in self.coupons.redemptions if r.redemption.id == redemption_id), None)


def coupons_page(conn: Connection, session: CashSession, now: datetime) -> CouponsView:
    """The member's coupons and balance, in one read."""
    found = redeeming.member_coupons(conn, session.member)
    ids = [c.campaign.product_id for c in found.issued if c.campaign.product_id]
    ids += [r.campaign.product_id for r in found.redemptions if r.campaign.product_id]
    return CouponsView(
        found,
        queries.balance(conn, session.member.id, now),
        products_by_ids(conn, session.service.id, ids),
    )


def _form_expired() -> InvalidInput:
    return InvalidInput("form_expired", "The coupon form has expired.")


def redeem(db: Database, session: CashSession, code_text: str, *, key: str, now: datetime) -> UUID:
    """Redeem the code for the signed-in member, once per form ``key``; the redemption's id.

    Runs :func:`coffer.coupons.redeeming.redeem` in a write transaction of its own that first
    claims the key (a second submission of the form finds the first redemption), under the
    per-member attempt limit (a refusal for the code is recorded as a failed attempt after
    the refused transaction rolled back). Refusals: the coupon's (``coupon_expired``,
    ``coupon_applies_at_checkout``, ``too_many_coupon_attempts``, …) and 422 ``form_expired``
    for a malformed key or one used for another code.
    """
    if not KEY.fullmatch(key):
        raise _form_expired()
    service, member = session.service, session.member
    scoped = f"cash-coupon:{member.id}:{key}"
    typed = code_text.strip().upper()
    fingerprint = hashlib.sha256(f"{member.id}|{typed}".encode()).hexdigest()

    def work(conn: Connection) -> UUID:
        try:
            stored = idempotency.claim(conn, service.id, scoped, fingerprint, now)
        except idempotency.KeyReused:
            raise _form_expired() from None
        if stored is not None:
            return UUID(str(stored.body["redemption_id"]))
        current, wallet = app.member_wallet(conn, service, member.external_id, spending=False)
        made = redeeming.redeem(
            conn, service, current, wallet, code_text, actor=f"member:{member.external_id}",
            now=now,
        )  # fmt: skip
        idempotency.record(conn, service.id, scoped, 303, {"redemption_id": str(made.id)})
        return made.id

    return redeeming.with_attempt_limit(db, service.id, member.id, now, lambda: db.write(work))


def shown_code(code: str | None) -> str:
    """A code as members read it (a bulk code in groups of four)."""
    return codes.format_code(code) if code else ""


def refusal(error: CofferError, timezone: str, _: Gettext) -> str:
    """Why a coupon was refused, for the member (any code not listed: a general sentence)."""
    details = error.details
    if error.code == "too_many_coupon_attempts" and isinstance(
        details.get("retry_after_seconds"), int
    ):
        minutes = max(1, round(details["retry_after_seconds"] / 60))
        return _("Too many codes that did not work. Wait %(minutes)s minutes, then try again.") % {
            "minutes": minutes
        }
    if error.code == "coupon_expired" and isinstance(details.get("valid_until"), str):
        until = datetime.fromisoformat(details["valid_until"])
        return _("This coupon expired on %(date)s.") % {"date": local_time(until, timezone)}
    if error.code == "coupon_not_yet_valid" and isinstance(details.get("valid_from"), str):
        since = datetime.fromisoformat(details["valid_from"])
        return _("This coupon can be used from %(date)s.") % {"date": local_time(since, timezone)}
    known = {
        "invalid_coupon_code": _("This is not a coupon code. Check it for typing mistakes."),
        "coupon_not_found": _("There is no coupon with this code. Check it for typing mistakes."),
        "coupon_expired": _("This coupon has expired."),
        "coupon_not_yet_valid": _("This coupon cannot be used yet."),
        "coupon_revoked": _("This coupon is no longer valid."),
        "coupon_campaign_not_active": _("This coupon's promotion is not running."),
        "coupon_already_redeemed": _("This coupon has already been used."),
        "coupon_not_yours": _("This coupon was given to someone else: only they can use it."),
        "coupon_limit_reached": _("This coupon has been used up."),
        "coupon_member_limit_reached": _("You have already used this coupon."),
        "coupon_applies_at_checkout": _(
            "This is a discount coupon: use this code at checkout, in the coupon box when you "
            "buy something in the shop."
        ),
        "coupon_not_a_discount": _(
            "This coupon is not a discount: redeem it on the Coupons tab instead."
        ),
        "coupon_not_applicable": _("This coupon does not apply to this purchase."),
        "too_many_coupon_attempts": _(
            "Too many codes that did not work. Wait a while, then try again."
        ),
        "member_suspended": _("You cannot use coupons now. Contact customer support."),
        "member_closed": _("You cannot use coupons now. Contact customer support."),
        "form_expired": _("This page has expired. Enter the code again."),
    }
    return known.get(error.code) or _("This coupon cannot be used.")
