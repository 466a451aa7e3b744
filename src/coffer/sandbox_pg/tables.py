"""The sandbox's own tables (its own MetaData; created with create_all, not Coffer's migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

merchants = Table(
    "merchants",
    metadata,
    Column("merchant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("client_key", String(100), nullable=False, unique=True),
    Column("secret_key", String(100), nullable=False, unique=True),
    Column("webhook_secret", String(100), nullable=False),
    Column("webhook_url", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_key", String(64), primary_key=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("order_name", String(200), nullable=False),
    Column("method", String(20), nullable=False),
    Column("status", String(30), nullable=False),
    Column("total_amount", BigInteger, nullable=False),
    Column("balance_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("card_number", String(20), nullable=True),  # test cards only: picks the behaviour
    Column("bank_code", String(4), nullable=True),
    Column("account_number", String(30), nullable=True),
    Column("due_date", DateTime(timezone=True), nullable=True),
    Column("failure_code", String(60), nullable=True),
    Column("failure_message", Text, nullable=True),
    UniqueConstraint("merchant_id", "order_id", name="uq_payments_merchant_order"),
)

#: Money movements: one PAYMENT when a payment is paid, one CANCEL per cancel.
transactions = Table(
    "transactions",
    metadata,
    Column("transaction_key", String(64), primary_key=True),
    Column("payment_key", ForeignKey("payments.payment_key"), nullable=False, index=True),
    Column("merchant_id", String(64), nullable=False),
    Column("type", String(10), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("transacted_at", DateTime(timezone=True), nullable=False, index=True),
    Column("cancel_reason", Text, nullable=True),
)

#: The webhook outbox: written with the change, sent after it commits.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),  # pending | held | sent | failed
    Column("tries", Integer, nullable=False, default=0),
    Column("next_try_ms", BigInteger, nullable=False),  # wall-clock ms of the next try
    Column("seq", BigInteger, nullable=False),  # send order among due deliveries
    Column("last_error", Text, nullable=True),
)
