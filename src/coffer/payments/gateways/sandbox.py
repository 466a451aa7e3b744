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

from collections.abc import Mapping
from datetime import date, datetime
from urllib.parse import urlencode

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import parse_amount
from coffer.payments.gateways import sandbox_wire as wire
from coffer.payments.gateways import toss_payment as v1
from coffer.payments.gateways.http_replies import (
    HttpGateway,
    basic_auth,
    failure,
    header,
    read_reply,
    return_params,
    settlement_reply,
)
from coffer.payments.gateways.outcomes import (
    PAYMENT_METHODS,
    CancelOutcome,
    Declined,
    PaymentOutcome,
    SettlementLine,
    WebhookEvent,
)
from coffer.payments.gateways.port import CheckoutRequest, InvalidWebhook, ReturnParams
from coffer.payments.gateways.signature import verified_event

SIGNATURE_HEADER = "Sandbox-Signature"
EVENT_ID_HEADER = "Sandbox-Event-Id"


class SandboxGateway(HttpGateway):
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
        super().__init__(
            base_url, {"Authorization": basic_auth(secret_key)}, timeout=timeout, client=client
        )
        self._client_key = client_key
        self._webhook_secret = webhook_secret

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

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        body = v1.confirm_body(payment_key, order_id, amount)
        reply = self._send("POST", v1.CONFIRM_PATH, body=body)
        outcome = read_reply(reply, wire.payment_outcome, failure, "unreadable payment")
        if isinstance(outcome, Declined) and outcome.code == "ALREADY_PROCESSED_PAYMENT":
            # A retried confirm: the first one went through (or is going); ask what happened.
            return self.query(payment_key=payment_key)
        return outcome

    def query(
        self, *, payment_key: str | None = None, order_id: str | None = None
    ) -> PaymentOutcome:
        reply = self._send("GET", v1.query_path(payment_key, order_id))
        return read_reply(reply, wire.payment_outcome, failure, "unreadable payment")

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> CancelOutcome:
        body = v1.cancel_body(amount, reason)
        reply = self._send("POST", v1.cancel_path(payment_key), body=body)
        return read_reply(reply, wire.cancel_outcome, failure, "unreadable cancel reply")

    def settlement(self, day: date) -> list[SettlementLine]:
        reply = self._send("GET", v1.SETTLEMENTS_PATH, params={"date": day.isoformat()})
        return settlement_reply(reply, day, wire.settlement_lines)

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        event = verified_event(
            self._webhook_secret, signature, body, now, wire.webhook_event, "a readable event"
        )
        header_id = header(headers, EVENT_ID_HEADER)
        if header_id is not None and header_id != event.event_id:
            raise InvalidWebhook("The event id header does not match the body.")
        return event
