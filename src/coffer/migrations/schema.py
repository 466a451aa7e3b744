"""Imports every package's tables so the shared MetaData is complete (Alembic, tests)."""

from __future__ import annotations

import coffer.admins.tables
import coffer.approvals.tables
import coffer.audit.tables
import coffer.catalog.tables
import coffer.coupons.tables
import coffer.db.idempotency
import coffer.db.outbox
import coffer.entitlements.tables
import coffer.grades.tables
import coffer.jobs.tables
import coffer.ledger.tables
import coffer.payments.pg_tables
import coffer.payments.tables
import coffer.pricing.tables
import coffer.purchases.tables
import coffer.tenancy.tables
from coffer.db.metadata import metadata

TABLE_MODULES = (
    coffer.admins.tables,
    coffer.approvals.tables,
    coffer.audit.tables,
    coffer.catalog.tables,
    coffer.db.idempotency,
    coffer.db.outbox,
    coffer.entitlements.tables,
    coffer.jobs.tables,
    coffer.ledger.tables,
    coffer.payments.pg_tables,
    coffer.payments.tables,
    coffer.purchases.tables,
    coffer.tenancy.tables,
)

__all__ = ["TABLE_MODULES", "metadata"]
