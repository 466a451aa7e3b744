"""Helpers for the PG administration tests (this module holds no tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.migrations.schema import metadata
from coffer.payments import contracts
from coffer.payments.commissions import MethodTerms
from coffer.payments.contracts import Contract
from coffer.payments.secrets import SecretBox, new_key

#: One key per test session: sealed values differ per run anyway.
BOX_KEY = new_key()
BOX = SecretBox(BOX_KEY)

CARD = MethodTerms(enabled=True, commission_bp=250, fixed_fee=0, min_fee=0)
SECRET = "sk_test_SECRET_never_shown_9f3k"
WEBHOOK_SECRET = "whsec_WEBHOOK_never_shown_x8q2"

PG_TABLES = (
    "pg_contracts",
    "pg_contract_methods",
    "pg_routes",
    "charge_limits",
    "pg_health_calls",
    "pg_breakers",
)


def new_contract(
    db: Database,
    clock: ManualClock,
    service_id: UUID,
    name: str = "Sandbox main",
    *,
    pg: str = "sandbox",
    methods: Mapping[str, MethodTerms] | None = None,
    **fields: Any,
) -> Contract:
    values: dict[str, Any] = {
        "merchant_id": "merchant-1",
        "base_url": "http://127.0.0.1:8100" if pg == "sandbox" else None,
        "client_key": "ck_test_public",
        "secret_key": SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        **fields,
    }
    return db.write(
        lambda conn: contracts.create_contract(
            conn,
            service_id,
            pg=pg,
            name=name,
            box=BOX,
            now=clock.now(),
            methods={"card": CARD} if methods is None else methods,
            **values,
        )
    )


def pg_state(db: Database) -> dict[str, list[str]]:
    """Every row of the PG administration tables (to show that nothing changed)."""
    tables = {t.name: t for t in metadata.sorted_tables if t.name in PG_TABLES}

    def dump(conn: Any) -> dict[str, list[str]]:
        return {
            name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for name, table in tables.items()
        }

    return db.read(dump)


def count(db: Database, table_name: str) -> int:
    table = metadata.tables[table_name]
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))
