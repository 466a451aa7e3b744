"""Delivering outgoing webhook events: the handler for ``webhook.deliver`` jobs.

The job payload is the event ``{id, type, created_at, data}`` queued by
``coffer.db.outbox.emit_event``. It is serialized once and those exact bytes are signed (see
``coffer.jobs.signature``) and POSTed to the service's ``webhook_url``. A 2xx answer is delivered;
anything else, or a network error, raises so the queue retries with backoff. Every attempt, and
the "no endpoint configured" skip, writes a row in ``webhook_deliveries`` in its own transaction
after the HTTP call, never holding a transaction open across it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from coffer.jobs.context import JobContext
from coffer.jobs.signature import SIGNATURE_HEADER, sign, verify
from coffer.jobs.tables import webhook_deliveries
from coffer.kernel.errors import NotFound
from coffer.kernel.ids import uuid7
from coffer.tenancy.service import webhook_target

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
EXCERPT_CHARS = 500
ERROR_CHARS = 1000
_EXCERPT_READ_BYTES = 4096
USER_AGENT = "Coffer-Webhooks/1"


class WebhookDeliveryError(Exception):
    """The endpoint did not accept the event; the job is retried."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    http_status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    duration_ms: int | None = None


class WebhookDeliverer:
    """The ``webhook.deliver`` handler. Pass ``client`` (or a ``transport``) to control HTTP."""

    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = httpx.Timeout(timeout_seconds)
        self.client = client or httpx.Client(
            transport=transport, timeout=self.timeout, follow_redirects=False
        )
        self._owns_client = client is None

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __call__(self, ctx: JobContext, payload: dict[str, Any]) -> None:
        event_id = UUID(str(payload["id"]))
        event_type = str(payload["type"])
        url, secret, why_not = self._endpoint(ctx)
        if not url:
            self._record(ctx, event_id, event_type, _Outcome("skipped", error=why_not))
            return
        if not secret:
            outcome = _Outcome("failed", error="service has a webhook_url but no webhook_secret")
            self._record(ctx, event_id, event_type, outcome)
            raise WebhookDeliveryError(outcome.error)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        outcome = self._post(ctx, url, secret, event_id, event_type, body)
        self._record(ctx, event_id, event_type, outcome)
        if outcome.status != "delivered":
            raise WebhookDeliveryError(
                f"event {event_id} to {url}: "
                + (f"HTTP {outcome.http_status}" if outcome.error is None else outcome.error)
            )

    @staticmethod
    def _endpoint(ctx: JobContext) -> tuple[str | None, str | None, str]:
        """(url, secret, why there is no url)."""
        service_id = ctx.service_id
        if service_id is None:
            return None, None, "job has no service"
        try:
            url, secret = ctx.db.read(lambda conn: webhook_target(conn, service_id))
        except NotFound:
            return None, None, "service not found"
        return url, secret, "no webhook_url configured"

    def _post(
        self,
        ctx: JobContext,
        url: str,
        secret: str,
        event_id: UUID,
        event_type: str,
        body: bytes,
    ) -> _Outcome:
        timestamp = int(ctx.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Coffer-Event-Id": str(event_id),
            "Coffer-Event-Type": event_type,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        started = time.perf_counter()
        try:
            with self.client.stream(
                "POST", url, content=body, headers=headers, timeout=self.timeout
            ) as response:
                excerpt = _excerpt(response)
                code = response.status_code
        except Exception as error:  # network errors, timeouts, bad URLs: all retried
            message = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
            return _Outcome("failed", error=message, duration_ms=_ms(started))
        return _Outcome(
            "delivered" if 200 <= code < 300 else "failed",
            http_status=code,
            excerpt=excerpt,
            duration_ms=_ms(started),
        )

    @staticmethod
    def _record(ctx: JobContext, event_id: UUID, event_type: str, outcome: _Outcome) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                insert(webhook_deliveries).values(
                    id=uuid7(),
                    service_id=ctx.service_id,
                    event_id=event_id,
                    event_type=event_type,
                    attempt=ctx.attempt,
                    status=outcome.status,
                    http_status=outcome.http_status,
                    response_excerpt=outcome.excerpt,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    created_at=ctx.clock.now(),
                )
            )

        ctx.db.write(work)
        log.log(
            logging.DEBUG if outcome.status == "skipped" else logging.INFO,
            "webhook %s (%s) attempt %d: %s %s",
            event_id,
            event_type,
            ctx.attempt,
            outcome.status,
            outcome.http_status or outcome.error or "",
        )


def _excerpt(response: httpx.Response) -> str:
    """The start of the response body, read no further than needed."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _EXCERPT_READ_BYTES:
            break
    return bytes(data).decode(response.encoding or "utf-8", errors="replace")[:EXCERPT_CHARS]


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


__all__ = ["SIGNATURE_HEADER", "WebhookDeliverer", "WebhookDeliveryError", "sign", "verify"]
