"""Tables owned by purchases: orders, their lines, and which content provider each won is for.

Each line is paid by its own spend journal (all in one database transaction), so cancelling a
line reverses exactly the lots that line drew. ``purchase_revenue`` records every won of sales
by content provider: positive rows when sold, negative rows when cancelled.

A line is of a product (``kind = 'product'``), or play time bought by the service's rate card
(``kind = 'time'``: no product, ``quantity`` minutes at ``unit_price`` cash per minute). Rate-card
time is the service's own sale: its revenue rows have no product and no CP.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

PURCHASE_STATUSES = ("completed", "partially_cancelled", "cancelled")
LINE_STATUSES = ("active", "cancelled")
LINE_KINDS = ("product", "time")

purchases = Table(
    "purchases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    # Who received the entitlements: the buyer, or the member it was a gift to.
    Column("recipient_id", Id, ForeignKey("members.id"), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("status", String(24), nullable=False),
    # The quote it was charged at: every line, every rule that applied and why.
    Column("quote", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("total >= 0", name="total_not_negative"),
    CheckConstraint(f"status IN {PURCHASE_STATUSES!r}", name="status"),
)
Index("ix_purchases_member", purchases.c.member_id, purchases.c.id)
Index("ix_purchases_recipient", purchases.c.recipient_id, purchases.c.id)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=True),
    # Units of the product, or minutes of rate-card time.
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    # What the discount rules and a coupon took off ``unit_price * quantity`` (the quote says
    # which rules and why).
    Column("discount", BigInteger, nullable=False, default=0),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("reversal_journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    # The entitlements the line granted (ids, as strings), kept after they are revoked.
    Column("entitlement_ids", JSON, nullable=False),
    CheckConstraint(f"kind IN {LINE_KINDS!r}", name="kind"),
    CheckConstraint("(kind = 'time') = (product_id IS NULL)", name="product_unless_time"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("discount >= 0 AND amount >= 0", name="discount_and_amount_not_negative"),
    CheckConstraint(
        "amount = unit_price * quantity - discount", name="amount_is_price_less_discount"
    ),
    CheckConstraint(f"status IN {LINE_STATUSES!r}", name="status"),
    CheckConstraint("(amount = 0) = (journal_id IS NULL)", name="paid_lines_have_journal"),
    CheckConstraint(
        "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_time"
    ),
    CheckConstraint(
        "(status = 'cancelled' AND journal_id IS NOT NULL) = (reversal_journal_id IS NOT NULL)",
        name="cancelled_paid_lines_reversed",
    ),
)
Index("ix_purchase_lines_product", purchase_lines.c.product_id, purchase_lines.c.status)

purchase_revenue = Table(
    "purchase_revenue",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=False, index=True),
    Column("line_id", Id, ForeignKey("purchase_lines.id"), nullable=False),
    # NULL for the service's own sales (rate-card time), which no CP shares.
    Column("cp_id", Id, ForeignKey("content_providers.id"), nullable=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
)
Index("ix_purchase_revenue_cp", purchase_revenue.c.cp_id, purchase_revenue.c.at)
