"""Tables owned by the ledger. Only ``coffer.ledger.engine`` writes money columns.

Sign convention: a posting's amount is the change of its account's balance. Member cash
accounts (``cash:paid``, ``cash:bonus``, ``cash:held``) are the service's liabilities to the
member; every journal's postings sum to zero per currency, so the system accounts carry the
opposite sign (e.g. ``bonus_expense`` goes negative as bonus cash is granted).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    text,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

CASH_KINDS = ("paid", "bonus")
LOT_SOURCES = ("admin", "event", "coupon", "charge", "api")
HOLD_STATUSES = ("active", "committed", "released", "expired")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("code", String(80), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index(
    "uq_accounts_member_code",
    accounts.c.member_id,
    accounts.c.code,
    unique=True,
    sqlite_where=accounts.c.member_id.isnot(None),
    postgresql_where=accounts.c.member_id.isnot(None),
)
Index(
    "uq_accounts_system_code",
    accounts.c.service_id,
    accounts.c.code,
    unique=True,
    sqlite_where=accounts.c.member_id.is_(None),
    postgresql_where=accounts.c.member_id.is_(None),
)

wallets = Table(
    "wallets",
    metadata,
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid", BigInteger, nullable=False, default=0),
    Column("bonus", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("paid >= 0", name="paid_not_negative"),
    CheckConstraint("bonus >= 0", name="bonus_not_negative"),
    CheckConstraint("held >= 0", name="held_not_negative"),
)

journals = Table(
    "journals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("kind", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("memo", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("reverses_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("hold_id", Id, nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
)
Index("ix_journals_member_history", journals.c.member_id, journals.c.id)
Index("ix_journals_service_date", journals.c.service_id, journals.c.business_date)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, index=True),
    Column("service_id", Id, nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("source", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("refundable", Boolean, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
    CheckConstraint(f"kind IN {CASH_KINDS!r}", name="kind"),
    CheckConstraint(f"source IN {LOT_SOURCES!r}", name="source"),
)
Index(
    "ix_lots_open",
    lots.c.member_id,
    lots.c.expires_at,
    sqlite_where=text("remaining > 0"),
    postgresql_where=text("remaining > 0"),
)
Index(
    "ix_lots_expiry_due",
    lots.c.expires_at,
    sqlite_where=text("remaining > 0 AND expires_at IS NOT NULL"),
    postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
)

lot_draws = Table(
    "lot_draws",
    metadata,
    Column("id", Id, primary_key=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, index=True),
    Column("lot_id", Id, ForeignKey("lots.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("committed", BigInteger, nullable=False, default=0),
    Column("status", String(12), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("committed >= 0 AND committed <= amount", name="committed_in_range"),
    CheckConstraint(f"status IN {HOLD_STATUSES!r}", name="status"),
)
Index("ix_holds_active_expiry", holds.c.status, holds.c.expires_at)
