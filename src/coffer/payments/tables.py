"""Tables of charge orders: charges, their timeline, the credit guard, refunds, PG webhook ids."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from coffer.db.metadata import Id, UTCDateTime, metadata
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.states import CHARGE_STATUSES, REFUND_KINDS, REFUND_STATUSES

charges = Table(
    "charges",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), nullable=False),
    Column("pg", String(20), nullable=False),
    # What the PG knows the charge by (Toss's orderId): unique, so a PG message finds one charge.
    Column("order_id", String(64), nullable=False, unique=True),
    Column("method", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(24), nullable=False),
    Column("payment_key", String(200), nullable=True),
    Column("return_url", Text, nullable=False),
    Column("checkout_expires_at", UTCDateTime, nullable=False),
    # The PG's hosted checkout page, made on the member's first visit and reused after.
    Column("pg_checkout_url", Text, nullable=True),
    # Set when credited: the grant's journal and the paid lot refunds draw from.
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("lot_id", Id, ForeignKey("lots.id"), nullable=True, unique=True),
    Column("approved_at", UTCDateTime, nullable=True),
    Column("refunded", BigInteger, nullable=False, default=0),
    Column("failure_code", String(100), nullable=True),
    Column("failure_message", Text, nullable=True),
    # Virtual accounts: where the member pays in, and until when.
    Column("va_bank", String(10), nullable=True),
    Column("va_account", String(40), nullable=True),
    Column("va_due_at", UTCDateTime, nullable=True),
    # The janitor: when to ask the PG next, and how many times it has asked.
    Column("next_check_at", UTCDateTime, nullable=True),
    Column("checks", Integer, nullable=False, default=0),
    # Why a person must look at this charge (NULL: nobody needs to).
    Column("attention", String(60), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_in_range"),
    CheckConstraint(f"status IN {CHARGE_STATUSES!r}", name="status"),
    CheckConstraint(f"method IN {PAYMENT_METHODS!r}", name="method"),
    CheckConstraint("(journal_id IS NULL) = (approved_at IS NULL)", name="credit_has_time"),
    CheckConstraint(
        "status NOT IN ('approved', 'partially_cancelled') OR journal_id IS NOT NULL",
        name="approved_is_credited",
    ),
    CheckConstraint(
        "journal_id IS NULL OR status IN ('approved', 'partially_cancelled', 'cancelled')",
        name="credited_only_when_approved",
    ),
)
Index("ix_charges_member", charges.c.member_id, charges.c.id)
Index("ix_charges_service_created", charges.c.service_id, charges.c.created_at)
Index(
    "ix_charges_due_check",
    charges.c.next_check_at,
    sqlite_where=text("next_check_at IS NOT NULL"),
    postgresql_where=text("next_check_at IS NOT NULL"),
)

#: One row per credited PG transaction: the database refuses a second credit for the same
#: payment of the same contract, whatever path (return, webhook, janitor) tries it.
charge_credits = Table(
    "charge_credits",
    metadata,
    Column("charge_id", Id, ForeignKey("charges.id"), primary_key=True),
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), nullable=False),
    Column("payment_key", String(200), nullable=False),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "payment_key", name="one_credit_per_payment"),
)

#: The timeline: every move of a charge or refund, what caused it, before and after.
charge_events = Table(
    "charge_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("charge_id", Id, ForeignKey("charges.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(20), nullable=False),
    Column("event", String(40), nullable=False),
    Column("before", String(24), nullable=True),
    Column("after", String(24), nullable=True),
    Column("detail", JSON, nullable=True),
)
Index("ix_charge_events_charge", charge_events.c.charge_id, charge_events.c.id)

refunds = Table(
    "charge_refunds",
    metadata,
    Column("id", Id, primary_key=True),
    Column("charge_id", Id, ForeignKey("charges.id"), nullable=False, index=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    # The journal that took the cash out, and the one that put it back if the PG refused.
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, unique=True),
    Column("reversal_journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("transaction_key", String(200), nullable=True),
    Column("failure_code", String(100), nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_check_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(f"status IN {REFUND_STATUSES!r}", name="status"),
    CheckConstraint(f"kind IN {REFUND_KINDS!r}", name="kind"),
    CheckConstraint(
        "(reversal_journal_id IS NULL) = (status <> 'refused')", name="reversed_iff_refused"
    ),
)
# At most one refund in flight per charge, enforced by the database.
Index(
    "ux_charge_refunds_in_flight",
    refunds.c.charge_id,
    unique=True,
    sqlite_where=text("status IN ('pending', 'sending', 'unknown')"),
    postgresql_where=text("status IN ('pending', 'sending', 'unknown')"),
)

#: Webhook events received from PGs, by the PG's event id: a redelivery is a no-op.
pg_webhook_events = Table(
    "pg_webhook_events",
    metadata,
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("charge_id", Id, ForeignKey("charges.id"), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
)
