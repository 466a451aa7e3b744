"""Settlement lines for a merchant and a KST date, with fees and injected settlement faults."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from coffer.sandbox_pg.faults import SettlementFaults
from coffer.sandbox_pg.model import Method, fee_for
from coffer.sandbox_pg.tables import payments, transactions
from coffer.sandbox_pg.times import KST, as_utc, rfc3339

COLUMNS = (
    "paymentKey",
    "orderId",
    "method",
    "type",
    "amount",
    "fee",
    "payOutAmount",
    "transactedAt",
)
WRONG_AMOUNT_DELTA = 1000


def lines(
    conn: Connection, merchant_id: str, day: date, faults: SettlementFaults, seed: int
) -> list[dict[str, Any]]:
    start = datetime.combine(day, time(0), KST)
    end = start + timedelta(days=1)
    rows = conn.execute(
        select(transactions, payments.c.order_id, payments.c.method)
        .join(payments, payments.c.payment_key == transactions.c.payment_key)
        .where(
            transactions.c.merchant_id == merchant_id,
            transactions.c.type.in_(("PAYMENT", "CANCEL")),
            transactions.c.transacted_at >= as_utc(start),
            transactions.c.transacted_at < as_utc(end),
        )
        .order_by(transactions.c.transacted_at, transactions.c.transaction_key)
    ).mappings()
    result = [
        _line(
            r["payment_key"],
            r["order_id"],
            Method(r["method"]),
            r["type"],
            r["amount"],
            r["transacted_at"],
        )
        for r in rows
    ]
    return _apply_faults(result, faults, random.Random(f"{seed}:{merchant_id}:{day}"), start)


def to_csv(settlement: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(settlement)
    return out.getvalue()


def _line(
    key: str, order_id: str, method: Method, kind: str, amount: int, at: datetime
) -> dict[str, Any]:
    fee = fee_for(method, kind, amount)
    return {
        "paymentKey": key,
        "orderId": order_id,
        "method": method.value,
        "type": kind,
        "amount": amount,
        "fee": fee,
        "payOutAmount": amount - fee,
        "transactedAt": rfc3339(at),
    }


def _apply_faults(
    result: list[dict[str, Any]], faults: SettlementFaults, rng: random.Random, start: datetime
) -> list[dict[str, Any]]:
    for _ in range(min(faults.missing, len(result))):
        result.pop(rng.randrange(len(result)))
    for index in rng.sample(range(len(result)), min(faults.wrong_amounts, len(result))):
        result[index] = {**result[index], "amount": result[index]["amount"] + WRONG_AMOUNT_DELTA}
    for number in range(faults.extra):
        amount = rng.randrange(1, 100) * 1000
        at = start + timedelta(hours=12, seconds=number)
        result.append(
            _line(
                f"sbx_extra_{rng.getrandbits(64):016x}",
                f"EXTRA-{number + 1}",
                Method.CARD,
                "PAYMENT",
                amount,
                at,
            )
        )
    result.sort(key=lambda line: str(line["transactedAt"]))  # stable: keeps the DB order
    return result
