"""The background webhook sender: due outbox rows, one at a time, with bounded retries."""

from __future__ import annotations

import logging
import threading

import httpx
from sqlalchemy import select, update

from coffer.kernel.clock import Clock
from coffer.sandbox_pg.config import SandboxSettings
from coffer.sandbox_pg.store import Store
from coffer.sandbox_pg.tables import merchants, webhook_deliveries
from coffer.sandbox_pg.webhooks import signature_header, wall_ms

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(self, store: Store, settings: SandboxSettings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.webhook_timeout_seconds + 1)

    def _run(self) -> None:
        with httpx.Client(timeout=self._settings.webhook_timeout_seconds) as client:
            while not self._stop.is_set():
                try:
                    sent = self.send_one(client)
                except Exception:  # the sender must survive anything
                    log.exception("webhook sender failed")
                    sent = False
                if not sent:
                    self._stop.wait(self._settings.webhook_poll_ms / 1000)

    def send_one(self, client: httpx.Client) -> bool:
        """Send the next due delivery; False when none is due."""
        with self._store.tx() as conn:
            row = (
                conn.execute(
                    select(webhook_deliveries, merchants.c.webhook_secret)
                    .join(merchants, merchants.c.merchant_id == webhook_deliveries.c.merchant_id)
                    .where(
                        webhook_deliveries.c.status == "pending",
                        webhook_deliveries.c.next_try_ms <= wall_ms(),
                    )
                    .order_by(webhook_deliveries.c.seq, webhook_deliveries.c.id)
                    .limit(1)
                )
                .mappings()
                .first()
            )
        if row is None:
            return False
        body = row["body"].encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Sandbox-Event-Id": row["event_id"],
            "Sandbox-Signature": signature_header(row["webhook_secret"], timestamp, body),
        }
        error: str | None = None
        try:
            response = client.post(row["url"], content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        tries = row["tries"] + 1
        if error is None:
            values: dict[str, object] = {"status": "sent", "tries": tries, "last_error": None}
        elif tries >= self._settings.webhook_max_tries:
            values = {"status": "failed", "tries": tries, "last_error": error}
        else:
            backoff = self._settings.webhook_backoff_ms * 2 ** (tries - 1)
            values = {"tries": tries, "last_error": error, "next_try_ms": wall_ms() + backoff}
        with self._store.tx() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == row["id"])
                .values(**values)
            )
        return True
