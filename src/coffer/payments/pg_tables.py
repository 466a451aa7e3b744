"""Tables of PG administration: contracts, their methods and commissions, routing, limits, health.

Secrets of a contract are stored only sealed (:mod:`coffer.payments.secrets`); ``secret_hint``
keeps the last characters of the secret key so that an admin can tell which key is set.

The circuit breaker (:mod:`coffer.payments.health`) keeps one row per PG call in
``pg_health_calls`` and one row per contract in ``pg_breakers``, written only when the breaker
changes state. ``half_open`` is never stored: it is an ``open`` breaker whose cool-down has passed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata
from coffer.payments.gateways.outcomes import PAYMENT_METHODS

PG_COMPANIES = ("sandbox", "toss", "stripe")
CONTRACT_STATUSES = ("active", "disabled")
STORED_BREAKER_STATES = ("closed", "open")

#: Longest values the contract columns keep.
NAME_MAX = 100
MERCHANT_ID_MAX = 200
BASE_URL_MAX = 2048
CLIENT_KEY_MAX = 200
SECRET_MAX = 500

_METHODS = tuple(PAYMENT_METHODS)

pg_contracts = Table(
    "pg_contracts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("pg", String(20), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("merchant_id", String(MERCHANT_ID_MAX), nullable=False),
    # Overrides the PG's API base URL: required for the sandbox, optional otherwise (a local fake).
    Column("base_url", String(BASE_URL_MAX), nullable=True),
    Column("client_key", String(CLIENT_KEY_MAX), nullable=False),
    Column("secret_key_enc", Text, nullable=False),
    Column("webhook_secret_enc", Text, nullable=False),
    Column("secret_hint", String(16), nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "name"),
    CheckConstraint(f"pg IN {PG_COMPANIES!r}", name="pg"),
    CheckConstraint(f"status IN {CONTRACT_STATUSES!r}", name="status"),
)

pg_contract_methods = Table(
    "pg_contract_methods",
    metadata,
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), primary_key=True),
    Column("method", String(20), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    # The rate in basis points (1 bp = 0.01 %): 250 is 2.5 %.
    Column("commission_bp", Integer, nullable=False),
    Column("fixed_fee", BigInteger, nullable=False),
    Column("min_fee", BigInteger, nullable=False),
    CheckConstraint(f"method IN {_METHODS!r}", name="method"),
    CheckConstraint("commission_bp >= 0 AND commission_bp <= 10000", name="commission_bp_range"),
    CheckConstraint("fixed_fee >= 0", name="fixed_fee_not_negative"),
    CheckConstraint("min_fee >= 0", name="min_fee_not_negative"),
)

#: The order in which a method's contracts are tried; contracts offering the method but not
#: listed here come after the listed ones, oldest first.
pg_routes = Table(
    "pg_routes",
    metadata,
    Column("service_id", Id, ForeignKey("services.id"), primary_key=True),
    Column("method", String(20), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "method", "contract_id"),
    CheckConstraint(f"method IN {_METHODS!r}", name="method"),
    CheckConstraint("position >= 0", name="position_not_negative"),
)

#: Amounts are minor units of the service's currency; the per-member caps are sums of amounts.
charge_limits = Table(
    "charge_limits",
    metadata,
    Column("service_id", Id, ForeignKey("services.id"), primary_key=True),
    Column("method", String(20), primary_key=True),
    Column("min_amount", BigInteger, nullable=False),
    Column("max_amount", BigInteger, nullable=True),
    Column("amount_step", BigInteger, nullable=False),
    Column("per_member_day", BigInteger, nullable=True),
    Column("per_member_month", BigInteger, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(f"method IN {_METHODS!r}", name="method"),
    CheckConstraint("min_amount > 0", name="min_amount_positive"),
    CheckConstraint("max_amount IS NULL OR max_amount >= min_amount", name="max_amount_range"),
    CheckConstraint("amount_step > 0", name="amount_step_positive"),
    CheckConstraint("per_member_day IS NULL OR per_member_day > 0", name="per_member_day_positive"),
    CheckConstraint(
        "per_member_month IS NULL OR per_member_month > 0", name="per_member_month_positive"
    ),
)

#: One row per call to a PG (confirm, query, cancel …): the breaker's rolling record.
pg_health_calls = Table(
    "pg_health_calls",
    metadata,
    Column("id", Id, primary_key=True),
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    CheckConstraint("latency_ms >= 0", name="latency_ms_not_negative"),
)
Index("ix_pg_health_calls_contract_at", pg_health_calls.c.contract_id, pg_health_calls.c.at)
Index("ix_pg_health_calls_at", pg_health_calls.c.at)

pg_breakers = Table(
    "pg_breakers",
    metadata,
    Column("contract_id", Id, ForeignKey("pg_contracts.id"), primary_key=True),
    Column("state", String(10), nullable=False),
    Column("opened_at", UTCDateTime, nullable=True),
    Column("reason", Text, nullable=False),
    # When the state last changed: a closed breaker counts only the calls after it.
    Column("changed_at", UTCDateTime, nullable=False),
    CheckConstraint(f"state IN {STORED_BREAKER_STATES!r}", name="state"),
    CheckConstraint("state <> 'open' OR opened_at IS NOT NULL", name="open_has_opened_at"),
)
