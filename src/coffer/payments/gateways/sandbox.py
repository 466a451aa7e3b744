"""The sandbox PG adapter: the Gateway port over the sandbox's HTTP protocol (docs/sandbox-pg.md).

Server-to-server calls carry ``Authorization: Basic base64(secret_key + ":")``. How a reply
becomes an outcome (``confirm``, ``query``; ``cancel`` in the last column):

=============================================  ===========================  ======================
Reply                                          confirm / query              cancel
=============================================  ===========================  ======================
timeout, connection error, any transport fail  Unknown                      Unknown
2xx whose body is not a well-formed Payment    Unknown                      Unknown
200 Payment ``DONE``                           Approved                     Unknown
200 ``WAITING_FOR_DEPOSIT``                    WaitingForDeposit            Unknown
200 ``READY`` / ``IN_PROGRESS``                Pending                      Unknown
200 ``CANCELED`` / ``PARTIAL_CANCELED``        PaymentCancelled             Cancelled (last cancel)
200 ``ABORTED`` / ``EXPIRED``                  Declined(failure code)       Unknown
200 any other status                           Unknown                      Unknown
4xx ``ALREADY_PROCESSED_PAYMENT`` (confirm)    the outcome of a query       Declined
401 / 403 (``UNAUTHORIZED_KEY``, ...)          Unknown (our credentials)    Unknown
408 / 425 / 429                                Unknown                      Unknown
other 4xx with ``{"code", "message"}``         Declined(code, message)      Declined(code, message)
4xx without a readable ``{"code", ...}``       Unknown                      Unknown
5xx (500 ``INTERNAL_ERROR``, 503 outage)       Unknown                      Unknown
1xx / 3xx                                      Unknown                      Unknown
=============================================  ===========================  ======================

So ``INVALID_AMOUNT``, ``NOT_FOUND_PAYMENT``, ``REJECT_CARD_PAYMENT``, ``REJECT_MOBILE``,
``INSUFFICIENT_VOUCHER_BALANCE``, ``INVALID_CANCEL_AMOUNT`` and ``NOT_CANCELABLE_PAYMENT`` are
declines. A 401 says nothing about the payment, so it stays Unknown and a person is told by the
janitor. The sandbox has no idempotency key on cancel: after an Unknown cancel, query the
payment and look for the cancel in ``cancels`` before sending it again. ``settlement`` raises
:class:`GatewayUnavailable` on anything but a readable 200 list.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import parse_amount
from coffer.payments.gateways import sandbox_wire as wire
from coffer.payments.gateways.http_replies import Reply as _Reply
from coffer.payments.gateways.http_replies import failure as _failure
from coffer.payments.gateways.http_replies import header as _header
from coffer.payments.gateways.http_replies import return_params, send
from coffer.payments.gateways.outcomes import (
    PAYMENT_METHODS,
    CancelOutcome,
    Declined,
    PaymentOutcome,
    SettlementLine,
    Unknown,
    WebhookEvent,
)
from coffer.payments.gateways.port import (
    CheckoutRequest,
    GatewayUnavailable,
    InvalidWebhook,
    ReturnParams,
)
from coffer.payments.gateways.signature import verify

SIGNATURE_HEADER = "Sandbox-Signature"
EVENT_ID_HEADER = "Sandbox-Event-Id"


class SandboxGateway:
    """The sandbox PG. ``client`` is for tests; without it the gateway owns its own client."""

    def __init__(
        self,
        base_url: str,
        client_key: str,
        secret_key: str,
        webhook_secret: str,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_key = client_key
        self._webhook_secret = webhook_secret
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()
        token = base64.b64encode(f"{secret_key}:".encode()).decode("ascii")
        self._auth = f"Basic {token}"

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SandboxGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- browser side ------------------------------------------------------------------------

    def checkout_url(self, request: CheckoutRequest) -> str:
        parse_amount(request.amount)
        if request.method not in PAYMENT_METHODS:
            raise InvalidInput("unsupported_method", f"Unknown method {request.method!r}.")
        params = {
            "client_key": self._client_key,
            "order_id": request.order_id,
            "amount": str(request.amount),
            "currency": request.currency,
            "method": request.method,
            "order_name": request.order_name,
            "success_url": request.success_url,
            "fail_url": request.fail_url,
        }
        return f"{self._base}/checkout?{urlencode(params)}"

    def parse_return(self, query_params: Mapping[str, str]) -> ReturnParams:
        return return_params(query_params)

    # -- server to server --------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> _Reply | Unknown:
        return send(
            self._client,
            method,
            f"{self._base}{path}",
            headers={"Authorization": self._auth},
            timeout=self._timeout,
            body=body,
            params=params,
        )

    def _payment(self, reply: _Reply | Unknown) -> PaymentOutcome:
        if isinstance(reply, Unknown):
            return reply
        if not 200 <= reply.status < 300:
            return _failure(reply)
        try:
            return wire.payment_outcome(reply.body)
        except wire.WireError as exc:
            return Unknown(reason=f"unreadable payment: {exc}")

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        body = {"paymentKey": payment_key, "orderId": order_id, "amount": amount}
        outcome = self._payment(self._send("POST", "/v1/payments/confirm", body=body))
        if isinstance(outcome, Declined) and outcome.code == "ALREADY_PROCESSED_PAYMENT":
            # A retried confirm: the first one went through (or is going); ask what happened.
            return self.query(payment_key=payment_key)
        return outcome

    def query(
        self, *, payment_key: str | None = None, order_id: str | None = None
    ) -> PaymentOutcome:
        if (payment_key is None) == (order_id is None):
            raise ValueError("query needs exactly one of payment_key and order_id")
        if payment_key is not None:
            path = f"/v1/payments/{quote(payment_key, safe='')}"
        else:
            path = f"/v1/payments/orders/{quote(order_id or '', safe='')}"
        return self._payment(self._send("GET", path))

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> CancelOutcome:
        body: dict[str, Any] = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = parse_amount(amount, field="cancelAmount")
        reply = self._send("POST", f"/v1/payments/{quote(payment_key, safe='')}/cancel", body=body)
        if isinstance(reply, Unknown):
            return reply
        if not 200 <= reply.status < 300:
            return _failure(reply)
        try:
            return wire.cancel_outcome(reply.body)
        except wire.WireError as exc:
            return Unknown(reason=f"unreadable cancel reply: {exc}")

    def settlement(self, day: date) -> list[SettlementLine]:
        reply = self._send("GET", "/v1/settlements", params={"date": day.isoformat()})
        if isinstance(reply, Unknown):
            raise GatewayUnavailable(reply.reason)
        if reply.status != 200:
            raise GatewayUnavailable(f"HTTP {reply.status} for the settlement of {day}")
        try:
            return wire.settlement_lines(reply.body)
        except wire.WireError as exc:
            raise GatewayUnavailable(f"unreadable settlement of {day}: {exc}") from exc

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookEvent:
        verify(self._webhook_secret, _header(headers, SIGNATURE_HEADER), body, now)
        try:
            event = wire.webhook_event(json.loads(body))
        except (ValueError, wire.WireError) as exc:
            raise InvalidWebhook(f"The webhook body is not a readable event: {exc}") from exc
        header_id = _header(headers, EVENT_ID_HEADER)
        if header_id is not None and header_id != event.event_id:
            raise InvalidWebhook("The event id header does not match the body.")
        return event
