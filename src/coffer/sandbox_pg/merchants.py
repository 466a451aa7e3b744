"""Merchants: creation, key lookup, webhook URL."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.tables import merchants


def create_merchant(
    conn: Connection, name: str, webhook_url: str | None, now: datetime
) -> dict[str, Any]:
    token = secrets.token_hex(12)
    values = {
        "merchant_id": f"merchant_{token}",
        "name": name,
        "client_key": f"test_ck_{secrets.token_hex(16)}",
        "secret_key": f"test_sk_{secrets.token_hex(16)}",
        "webhook_secret": f"whsec_{secrets.token_hex(16)}",
        "webhook_url": webhook_url,
        "created_at": now,
    }
    conn.execute(insert(merchants).values(**values))
    return merchant_json(values)


def merchant_json(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {
        key: row[key]
        for key in (
            "merchant_id",
            "name",
            "client_key",
            "secret_key",
            "webhook_secret",
            "webhook_url",
        )
    }


def set_webhook_url(conn: Connection, merchant_id: str, url: str | None) -> dict[str, Any]:
    done = conn.execute(
        update(merchants).where(merchants.c.merchant_id == merchant_id).values(webhook_url=url)
    )
    if done.rowcount == 0:
        raise PgError("NOT_FOUND_MERCHANT", "no such merchant", 404)
    return merchant_json(by_id(conn, merchant_id))


def by_id(conn: Connection, merchant_id: str) -> RowMapping:
    row = conn.execute(select(merchants).where(merchants.c.merchant_id == merchant_id)).mappings()
    found = row.first()
    if found is None:
        raise PgError("NOT_FOUND_MERCHANT", "no such merchant", 404)
    return found


def by_client_key(conn: Connection, client_key: str) -> RowMapping:
    found = (
        conn.execute(select(merchants).where(merchants.c.client_key == client_key))
        .mappings()
        .first()
    )
    if found is None:
        raise PgError("UNAUTHORIZED_KEY", "unknown client key", 401)
    return found


def by_secret_key(conn: Connection, secret_key: str) -> RowMapping:
    found = (
        conn.execute(select(merchants).where(merchants.c.secret_key == secret_key))
        .mappings()
        .first()
    )
    if found is None:
        raise PgError("UNAUTHORIZED_KEY", "wrong or missing secret key", 401)
    return found
