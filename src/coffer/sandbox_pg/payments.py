"""Payment state changes: checkout result, confirm, cancel, deposit, queries.

Each function runs inside the caller's transaction. A refusal that must still persist a change
(a payment found expired) is returned in :class:`Outcome` instead of raised, so the caller can
commit first and fail afterwards.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from coffer.kernel.ids import uuid7
from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.model import (
    CANCELABLE,
    CONFIRM_WINDOW_SECONDS,
    DEPOSIT_DAYS,
    REPLACEABLE,
    Method,
    Status,
)
from coffer.sandbox_pg.tables import payments, transactions
from coffer.sandbox_pg.times import as_utc, kst_date

HANG_CARD = "4000000000000119"


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    order_name: str
    amount: int
    method: Method
    currency: str = "KRW"


@dataclass(frozen=True, slots=True)
class Authorisation:
    """What the checkout form produced: approved (``failure`` None) or declined."""

    card_number: str | None = None
    bank_code: str | None = None
    failure: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    row: RowMapping
    error: PgError | None = None
    changed: bool = True


def check_order_free(conn: Connection, merchant_id: str, order_id: str) -> None:
    existing = _by_order(conn, merchant_id, order_id)
    if existing is not None and Status(existing["status"]) not in REPLACEABLE:
        raise PgError("DUPLICATED_ORDER_ID", "this order id has already been paid")


def record_checkout(
    conn: Connection, merchant_id: str, order: Order, auth: Authorisation, now: datetime
) -> RowMapping:
    check_order_free(conn, merchant_id, order.order_id)
    conn.execute(
        delete(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.order_id == order.order_id
        )
    )
    key = f"sbx_{uuid7().hex}"
    conn.execute(
        insert(payments).values(
            payment_key=key,
            merchant_id=merchant_id,
            order_id=order.order_id,
            order_name=order.order_name,
            method=order.method.value,
            status=(Status.READY if auth.failure is None else Status.ABORTED).value,
            total_amount=order.amount,
            balance_amount=order.amount,
            currency=order.currency,
            requested_at=now,
            card_number=auth.card_number,
            bank_code=auth.bank_code,
            failure_code=None if auth.failure is None else auth.failure[0],
            failure_message=None if auth.failure is None else auth.failure[1],
        )
    )
    return by_key(conn, merchant_id, key)


def confirm(
    conn: Connection, merchant_id: str, key: str, order_id: str, amount: int, now: datetime
) -> Outcome:
    row = by_key(conn, merchant_id, key)
    status = Status(row["status"])
    if row["order_id"] != order_id:
        raise PgError("NOT_FOUND_PAYMENT", "the order id does not match this payment")
    if status is Status.ABORTED:
        raise PgError(row["failure_code"], row["failure_message"])
    if status is Status.EXPIRED:
        raise PgError("NOT_FOUND_PAYMENT_SESSION", "the payment session has expired")
    if status is not Status.READY:
        raise PgError("ALREADY_PROCESSED_PAYMENT", "this payment has already been processed")
    if amount != row["total_amount"]:
        raise PgError("INVALID_AMOUNT", "the amount does not match the checkout")
    if now - as_utc(row["requested_at"]) > timedelta(seconds=CONFIRM_WINDOW_SECONDS):
        _set(
            conn,
            key,
            status=Status.EXPIRED.value,
            failure_code="NOT_FOUND_PAYMENT_SESSION",
            failure_message="the payment session has expired",
        )
        return Outcome(
            by_key(conn, merchant_id, key),
            PgError("NOT_FOUND_PAYMENT_SESSION", "the payment session has expired"),
        )
    if Method(row["method"]) is Method.VIRTUAL_ACCOUNT:
        _set(
            conn,
            key,
            status=Status.WAITING_FOR_DEPOSIT.value,
            account_number=f"{secrets.randbelow(10**13):013d}",
            due_date=now + timedelta(days=DEPOSIT_DAYS),
        )
    else:
        _set(conn, key, status=Status.DONE.value, approved_at=now)
        _transaction(conn, row, "PAYMENT", row["total_amount"], now, None)
    return Outcome(by_key(conn, merchant_id, key))


def cancel(
    conn: Connection,
    merchant_id: str,
    key: str,
    reason: str,
    amount: int | None,
    now: datetime,
) -> RowMapping:
    row = by_key(conn, merchant_id, key)
    status = Status(row["status"])
    if status is Status.WAITING_FOR_DEPOSIT:
        if amount is not None and amount != row["total_amount"]:
            raise PgError(
                "INVALID_CANCEL_AMOUNT", "a virtual account waiting for deposit cancels in full"
            )
        _set(conn, key, status=Status.CANCELED.value, balance_amount=0)
        _transaction(conn, row, "VOID", -row["total_amount"], now, reason)
        return by_key(conn, merchant_id, key)
    if status not in CANCELABLE:
        raise PgError("NOT_CANCELABLE_PAYMENT", f"a {status.value} payment cannot be cancelled")
    if Method(row["method"]) is Method.MOBILE:
        approved = kst_date(row["approved_at"])
        today = kst_date(now)
        if (approved.year, approved.month) != (today.year, today.month):
            raise PgError(
                "NOT_CANCELABLE_PAYMENT",
                "mobile payments can be cancelled only in the month they were paid",
            )
    balance = int(row["balance_amount"])
    cancel_amount = balance if amount is None else amount
    if cancel_amount > balance:
        raise PgError("INVALID_CANCEL_AMOUNT", "the cancel amount exceeds the balance")
    left = balance - cancel_amount
    _set(
        conn,
        key,
        balance_amount=left,
        status=(Status.CANCELED if left == 0 else Status.PARTIAL_CANCELED).value,
    )
    _transaction(conn, row, "CANCEL", -cancel_amount, now, reason)
    return by_key(conn, merchant_id, key)


def deposit(conn: Connection, key: str, now: datetime) -> Outcome:
    row = conn.execute(select(payments).where(payments.c.payment_key == key)).mappings().first()
    if row is None:
        raise PgError("NOT_FOUND_PAYMENT", "no such payment", 404)
    if Status(row["status"]) is not Status.WAITING_FOR_DEPOSIT:
        raise PgError("NOT_WAITING_FOR_DEPOSIT", "this payment is not waiting for a deposit")
    merchant_id = row["merchant_id"]
    if now > as_utc(row["due_date"]):
        _set(
            conn,
            key,
            status=Status.EXPIRED.value,
            failure_code="EXPIRED_VIRTUAL_ACCOUNT",
            failure_message="the virtual account has expired",
        )
        return Outcome(
            by_key(conn, merchant_id, key),
            PgError("EXPIRED_VIRTUAL_ACCOUNT", "the virtual account has expired"),
        )
    _set(conn, key, status=Status.DONE.value, approved_at=now)
    _transaction(conn, row, "PAYMENT", row["total_amount"], now, None)
    return Outcome(by_key(conn, merchant_id, key))


def by_key(conn: Connection, merchant_id: str, key: str) -> RowMapping:
    row = (
        conn.execute(
            select(payments).where(
                payments.c.payment_key == key, payments.c.merchant_id == merchant_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise PgError("NOT_FOUND_PAYMENT", "no such payment", 404)
    return row


def by_order(conn: Connection, merchant_id: str, order_id: str) -> RowMapping:
    row = _by_order(conn, merchant_id, order_id)
    if row is None:
        raise PgError("NOT_FOUND_PAYMENT", "no such payment", 404)
    return row


def is_hang_card(row: RowMapping) -> bool:
    return bool(row["card_number"] == HANG_CARD)


def _by_order(conn: Connection, merchant_id: str, order_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(payments).where(
                payments.c.merchant_id == merchant_id, payments.c.order_id == order_id
            )
        )
        .mappings()
        .first()
    )


def _set(conn: Connection, key: str, **values: object) -> None:
    conn.execute(update(payments).where(payments.c.payment_key == key).values(**values))


def _transaction(
    conn: Connection, row: RowMapping, kind: str, amount: int, now: datetime, reason: str | None
) -> None:
    conn.execute(
        insert(transactions).values(
            transaction_key=f"txn_{uuid7().hex}",
            payment_key=row["payment_key"],
            merchant_id=row["merchant_id"],
            type=kind,
            amount=amount,
            transacted_at=now,
            cancel_reason=reason,
        )
    )
