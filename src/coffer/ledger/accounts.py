"""Ledger accounts: codes, deterministic ids, and opening a wallet.

Account ids are derived (UUIDv5 of the owner and code) rather than looked up, so the write path
never queries for them; the rows exist so postings have a foreign key to point at.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from coffer.ledger.model import WalletRef
from coffer.ledger.tables import accounts, postings, wallets

#: Member cash accounts: what the service owes the member, available or reserved.
MEMBER_ACCOUNTS = ("cash:paid", "cash:bonus", "cash:held")

#: System accounts every service has. ``grants:<source>`` fund non-charge grants,
#: ``pg_receivable`` funds charges, spends flow to ``sales_revenue``, expiry to ``breakage``.
SYSTEM_ACCOUNTS = (
    "grants:admin",
    "grants:event",
    "grants:coupon",
    "grants:api",
    "pg_receivable",
    "sales_revenue",
    "breakage",
)

_NAMESPACE = uuid.UUID("6f1c2a8e-2b7e-4f7e-9a39-5a1c0ffe0001")


def member_account_id(member_id: UUID, code: str) -> UUID:
    return uuid.uuid5(_NAMESPACE, f"member:{member_id}:{code}")


def system_account_id(service_id: UUID, code: str) -> UUID:
    return uuid.uuid5(_NAMESPACE, f"system:{service_id}:{code}")


def grant_funding_account(source: str) -> str:
    return "pg_receivable" if source == "charge" else f"grants:{source}"


def open_service_accounts(
    conn: Connection, service_id: UUID, currency: str, *, now: datetime
) -> None:
    """Create the system accounts of a new service."""
    conn.execute(
        insert(accounts),
        [
            {
                "id": system_account_id(service_id, code),
                "service_id": service_id,
                "member_id": None,
                "code": code,
                "currency": currency,
                "created_at": now,
            }
            for code in SYSTEM_ACCOUNTS
        ],
    )


def open_wallet(conn: Connection, wallet: WalletRef, *, now: datetime) -> None:
    """Create a new member's wallet row and cash accounts."""
    conn.execute(
        insert(accounts),
        [
            {
                "id": member_account_id(wallet.member_id, code),
                "service_id": wallet.service_id,
                "member_id": wallet.member_id,
                "code": code,
                "currency": wallet.currency,
                "created_at": now,
            }
            for code in MEMBER_ACCOUNTS
        ],
    )
    conn.execute(
        insert(wallets).values(
            member_id=wallet.member_id,
            service_id=wallet.service_id,
            currency=wallet.currency,
            paid=0,
            bonus=0,
            held=0,
            updated_at=now,
        )
    )


def account_balances(conn: Connection, service_id: UUID) -> dict[str, int]:
    """Balances of a service's system accounts, derived from their postings."""
    rows = conn.execute(
        select(accounts.c.code, func.coalesce(func.sum(postings.c.amount), 0))
        .select_from(accounts.outerjoin(postings, postings.c.account_id == accounts.c.id))
        .where(accounts.c.service_id == service_id, accounts.c.member_id.is_(None))
        .group_by(accounts.c.code)
    ).all()
    return {code: int(total) for code, total in rows}
