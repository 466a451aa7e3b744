"""Rows to the protocol's JSON objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, select

from coffer.sandbox_pg.tables import transactions
from coffer.sandbox_pg.times import rfc3339


def payment_json(conn: Connection, row: RowMapping) -> dict[str, Any]:
    cancels = conn.execute(
        select(transactions)
        .where(
            transactions.c.payment_key == row["payment_key"],
            transactions.c.type.in_(("CANCEL", "VOID")),
        )
        .order_by(transactions.c.transacted_at, transactions.c.transaction_key)
    ).mappings()
    virtual_account = None
    if row["account_number"] is not None:
        virtual_account = {
            "accountNumber": row["account_number"],
            "bankCode": row["bank_code"],
            "dueDate": rfc3339(row["due_date"]),
        }
    failure = None
    if row["failure_code"] is not None:
        failure = {"code": row["failure_code"], "message": row["failure_message"]}
    return {
        "paymentKey": row["payment_key"],
        "orderId": row["order_id"],
        "orderName": row["order_name"],
        "method": row["method"],
        "status": row["status"],
        "totalAmount": row["total_amount"],
        "balanceAmount": row["balance_amount"],
        "currency": row["currency"],
        "requestedAt": rfc3339(row["requested_at"]),
        "approvedAt": rfc3339(row["approved_at"]),
        "virtualAccount": virtual_account,
        "cancels": [
            {
                "cancelAmount": -c["amount"],
                "canceledAt": rfc3339(c["transacted_at"]),
                "cancelReason": c["cancel_reason"],
                "transactionKey": c["transaction_key"],
            }
            for c in cancels
        ],
        "failure": failure,
    }
