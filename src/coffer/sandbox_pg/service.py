"""The sandbox's use cases: one transaction each, webhooks queued with the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import RowMapping

from coffer.kernel.clock import Clock
from coffer.sandbox_pg import merchants, payments, settlement
from coffer.sandbox_pg.config import SandboxSettings
from coffer.sandbox_pg.faults import FaultBox
from coffer.sandbox_pg.serialize import payment_json
from coffer.sandbox_pg.store import Store
from coffer.sandbox_pg.webhooks import DEPOSIT_CALLBACK, PAYMENT_STATUS_CHANGED, enqueue


@dataclass(frozen=True, slots=True)
class Confirmed:
    payment: dict[str, Any]
    hang: bool


class Sandbox:
    def __init__(
        self, store: Store, clock: Clock, faults: FaultBox, settings: SandboxSettings
    ) -> None:
        self.store = store
        self.clock = clock
        self.faults = faults
        self.settings = settings

    # -- checkout (client key) ---------------------------------------------------------------

    def checkout_merchant(self, client_key: str) -> RowMapping:
        with self.store.tx() as conn:
            return merchants.by_client_key(conn, client_key)

    def check_order_free(self, merchant_id: str, order_id: str) -> None:
        with self.store.tx() as conn:
            payments.check_order_free(conn, merchant_id, order_id)

    def record_checkout(
        self, merchant_id: str, order: payments.Order, auth: payments.Authorisation
    ) -> RowMapping:
        with self.store.tx() as conn:
            return payments.record_checkout(conn, merchant_id, order, auth, self.clock.now())

    # -- server to server (secret key) -------------------------------------------------------

    def merchant_by_secret(self, secret_key: str) -> RowMapping:
        with self.store.tx() as conn:
            return merchants.by_secret_key(conn, secret_key)

    def confirm(self, merchant: RowMapping, key: str, order_id: str, amount: int) -> Confirmed:
        now = self.clock.now()
        with self.store.tx() as conn:
            outcome = payments.confirm(conn, merchant["merchant_id"], key, order_id, amount, now)
            body = payment_json(conn, outcome.row)
            if outcome.error is None:
                enqueue(conn, merchant, PAYMENT_STATUS_CHANGED, body, now, self.faults.current)
        if outcome.error is not None:
            raise outcome.error
        hang = payments.is_hang_card(outcome.row) or self.faults.current.timeout_after_approval
        return Confirmed(body, hang)

    def cancel(
        self, merchant: RowMapping, key: str, reason: str, amount: int | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.tx() as conn:
            row = payments.cancel(conn, merchant["merchant_id"], key, reason, amount, now)
            body = payment_json(conn, row)
            enqueue(conn, merchant, PAYMENT_STATUS_CHANGED, body, now, self.faults.current)
        return body

    def payment(self, merchant: RowMapping, key: str) -> dict[str, Any]:
        with self.store.tx() as conn:
            return payment_json(conn, payments.by_key(conn, merchant["merchant_id"], key))

    def payment_by_order(self, merchant: RowMapping, order_id: str) -> dict[str, Any]:
        with self.store.tx() as conn:
            return payment_json(conn, payments.by_order(conn, merchant["merchant_id"], order_id))

    def settlement(self, merchant: RowMapping, day: date) -> list[dict[str, Any]]:
        faults = self.faults.current
        with self.store.tx() as conn:
            return settlement.lines(
                conn, merchant["merchant_id"], day, faults.settlement, faults.seed
            )

    # -- admin -------------------------------------------------------------------------------

    def create_merchant(self, name: str, webhook_url: str | None) -> dict[str, Any]:
        with self.store.tx() as conn:
            return merchants.create_merchant(conn, name, webhook_url, self.clock.now())

    def set_webhook_url(self, merchant_id: str, url: str | None) -> dict[str, Any]:
        with self.store.tx() as conn:
            return merchants.set_webhook_url(conn, merchant_id, url)

    def deposit(self, key: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.tx() as conn:
            outcome = payments.deposit(conn, key, now)
            body = payment_json(conn, outcome.row)
            if outcome.error is None:
                merchant = merchants.by_id(conn, outcome.row["merchant_id"])
                enqueue(conn, merchant, DEPOSIT_CALLBACK, body, now, self.faults.current)
        if outcome.error is not None:
            raise outcome.error
        return body
