"""The Toss Payments adapter: the Gateway port over Toss's core API v1 (docs/gateways/toss.md).

Server-to-server calls carry ``Authorization: Basic base64(secret_key + ":")``. Checkout uses the
API-only payment window: ``POST /v1/payments`` creates a ``READY`` payment whose ``checkout.url``
is Toss's hosted page (no JS SDK, so no client key is needed; it is kept for a page that uses
the SDK). How a reply becomes an outcome (``confirm``, ``query``; ``cancel`` in the last column):

=============================================  ===========================  ======================
Reply                                          confirm / query              cancel
=============================================  ===========================  ======================
timeout, connection error, any transport fail  Unknown                      Unknown
2xx whose body is not a well-formed Payment    Unknown                      Unknown
2xx about another payment, amount or cancel    Unknown                      Unknown
200 Payment ``DONE``                           Approved                     Unknown
200 ``WAITING_FOR_DEPOSIT``                    WaitingForDeposit            Unknown
200 ``READY`` / ``IN_PROGRESS``                Pending                      Unknown
200 ``CANCELED`` / ``PARTIAL_CANCELED``        PaymentCancelled             Cancelled (last cancel)
200 ``ABORTED`` / ``EXPIRED``                  Declined(failure code)       Unknown
200 any other status                           Unknown                      Unknown
400 ``ALREADY_PROCESSED_PAYMENT`` (confirm)    the outcome of a query       Declined
401, 408, 409, 425, 429                        Unknown                      Unknown
403 with a refusal code (``REJECT_*``, ...)    Declined(code, message)      Declined(code, message)
403 with any other code (``FORBIDDEN_*``)      Unknown                      Unknown
4xx "temporary" code (``PROVIDER_ERROR``, ...) Unknown                      Unknown
other 4xx with ``{"code", "message"}``         Declined(code, message)      Declined(code, message)
4xx without a readable ``{"code", ...}``       Unknown                      Unknown
5xx, 1xx, 3xx                                  Unknown                      Unknown
=============================================  ===========================  ======================

Toss answers card refusals and non-cancellable amounts with 403 (its error-code table), so 403
is a decline only for the codes in ``DEFINITE_403``. ``Idempotency-Key`` (valid 15 days, scoped
by key + secret key + URL + method) goes on checkout, confirm and cancel; it is derived from the
request (``idempotency_key``), so a retry after Unknown replays Toss's first answer instead of
acting twice. Sources: https://docs.tosspayments.com/reference,
https://docs.tosspayments.com/en/api-guide, https://docs.tosspayments.com/reference/error-codes,
https://docs.tosspayments.com/guides/using-api/idempotency-key,
https://docs.tosspayments.com/reference/using-api/webhook-events,
https://docs.tosspayments.com/guides/apis/settlements.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import parse_amount
from coffer.payments.gateways import toss_payment as v1
from coffer.payments.gateways import toss_wire as wire
from coffer.payments.gateways.http_replies import (
    RETRYABLE_4XX,
    HttpGateway,
    Reply,
    basic_auth,
    failure,
    header,
    read_reply,
    return_params,
    settlement_reply,
)
from coffer.payments.gateways.outcomes import (
    PAYMENT_METHODS,
    Approved,
    Cancelled,
    CancelOutcome,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    SettlementLine,
    Unknown,
    WaitingForDeposit,
    WebhookEvent,
)
from coffer.payments.gateways.port import (
    CheckoutRequest,
    GatewayUnavailable,
    InvalidWebhook,
    ReturnParams,
)
from coffer.payments.gateways.signature import TOLERANCE_SECONDS

API_BASE = "https://api.tosspayments.com"
SIGNATURE_HEADER = "tosspayments-webhook-signature"
TRANSMISSION_TIME_HEADER = "tosspayments-webhook-transmission-time"
#: Toss's 403 codes that refuse this payment or cancel for good.
DEFINITE_403 = frozenset(
    {
        "REJECT_ACCOUNT_PAYMENT",
        "REJECT_CARD_PAYMENT",
        "REJECT_CARD_COMPANY",
        "REJECT_TOSSPAY_INVALID_ACCOUNT",
        "EXCEED_MAX_AUTH_COUNT",
        "EXCEED_MAX_ONE_DAY_AMOUNT",
        "NOT_AVAILABLE_BANK",
        "INVALID_PASSWORD",
        "FDS_ERROR",
        "NOT_CANCELABLE_AMOUNT",
        "NOT_CANCELABLE_PAYMENT",
        "EXCEED_MAX_REFUND_DUE",
        "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT",
        "NOT_ALLOWED_PARTIAL_REFUND",
    }
)
#: 4xx codes that say "temporary, try again" or "our credentials", never "no".
TEMPORARY_CODES = frozenset(
    {
        "PROVIDER_ERROR",
        "INVALID_API_KEY",
        "UNAUTHORIZED_KEY",
        "FORBIDDEN_CONSECUTIVE_REQUEST",
        "COMMON_ERROR",
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "UNKNOWN_PAYMENT_ERROR",
    }
)
#: 409: a request with the same idempotency key is still being processed.
RETRYABLE = RETRYABLE_4XX | {409}
SETTLEMENT_PAGE_SIZE = 5000
_MAX_SETTLEMENT_PAGES = 200


def idempotency_key(operation: str, *parts: str) -> str:
    """A deterministic ``Idempotency-Key``: the same request always sends the same key.

    checkout: (order id, amount, currency, method); confirm: (payment key, order id, amount);
    cancel: (payment key, amount or ``all``, reason).
    """
    digest = hashlib.sha256("\x1f".join((operation, *parts)).encode()).hexdigest()
    return f"coffer-{operation}-{digest}"


def _toss_failure(reply: Reply) -> Declined | Unknown:
    return failure(
        reply, retryable=RETRYABLE, unknown_codes=TEMPORARY_CODES, definite_codes=DEFINITE_403
    )


def _payment(reply: Reply | Unknown) -> PaymentOutcome:
    return read_reply(reply, wire.payment_outcome, _toss_failure, "unreadable payment")


def _about(outcome: PaymentOutcome, key: str | None, order_id: str | None) -> PaymentOutcome:
    """Unknown when a reply describes another payment than the one asked about."""
    if not isinstance(outcome, Approved | WaitingForDeposit | Pending | PaymentCancelled):
        return outcome
    if (key is not None and outcome.payment_key != key) or (
        order_id is not None and outcome.order_id != order_id
    ):
        return Unknown(reason="Toss answered about another payment")
    return outcome


def _event_id(event_type: str, created_at: str, facts: wire.PaymentFacts) -> str:
    """Stable across redeliveries: Toss sends no event id, so hash the event and what it proved."""
    text = "\n".join(
        (event_type, created_at, facts.payment_key, facts.status, facts.last_transaction_key)
    )
    return "toss_" + hashlib.sha256(text.encode()).hexdigest()[:40]


class TossGateway(HttpGateway):
    """Toss Payments. ``client`` is for tests; without it the gateway owns its own client.

    ``webhook_secret`` is the security key (보안 키) Toss signs payout webhooks with.
    """

    def __init__(
        self,
        client_key: str,
        secret_key: str,
        webhook_secret: str,
        *,
        base_url: str = API_BASE,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url, {"Authorization": basic_auth(secret_key)}, timeout=timeout, client=client
        )
        self.client_key = client_key
        self._webhook_secret = webhook_secret

    # -- browser side ------------------------------------------------------------------------

    def checkout_url(self, request: CheckoutRequest) -> str:
        """Create the payment (``POST /v1/payments``); raises GatewayUnavailable on failure."""
        amount = parse_amount(request.amount)
        if request.method not in PAYMENT_METHODS:
            raise InvalidInput("unsupported_method", f"Unknown method {request.method!r}.")
        if request.currency != "KRW":
            raise InvalidInput("unsupported_currency", "Toss's Korean methods charge KRW only.")
        body = {
            "method": wire.REQUEST_METHODS[request.method],
            "amount": amount,
            "orderId": request.order_id,
            "orderName": request.order_name,
            "successUrl": request.success_url,
            "failUrl": request.fail_url,
        }
        key = idempotency_key(
            "checkout", request.order_id, str(amount), request.currency, request.method
        )
        reply = self._send("POST", "/v1/payments", body=body, idempotency_key=key)
        if isinstance(reply, Unknown):
            raise GatewayUnavailable(f"Toss did not create the payment: {reply.reason}")
        if not 200 <= reply.status < 300:
            refused = _toss_failure(reply)
            why = (
                refused.reason
                if isinstance(refused, Unknown)
                else f"{refused.code}: {refused.message}"
            )
            raise GatewayUnavailable(f"Toss did not create the payment: {why}")
        try:
            return wire.checkout_url(reply.body)
        except wire.WireError as exc:
            raise GatewayUnavailable(f"unreadable payment creation reply: {exc}") from exc

    def parse_return(self, query_params: Mapping[str, str]) -> ReturnParams:
        return return_params(query_params)

    # -- server to server --------------------------------------------------------------------

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        body = v1.confirm_body(payment_key, order_id, amount)
        key = idempotency_key("confirm", payment_key, order_id, str(amount))
        outcome = _payment(self._send("POST", v1.CONFIRM_PATH, body=body, idempotency_key=key))
        if isinstance(outcome, Declined) and outcome.code == "ALREADY_PROCESSED_PAYMENT":
            # Confirmed before under another key (or over 15 days ago): ask what happened.
            outcome = self.query(payment_key=payment_key)
        if isinstance(outcome, Approved | WaitingForDeposit) and outcome.amount != amount:
            return Unknown(reason=f"Toss approved {outcome.amount}, not {amount}")
        return _about(outcome, payment_key, order_id)

    def query(
        self, *, payment_key: str | None = None, order_id: str | None = None
    ) -> PaymentOutcome:
        path = v1.query_path(payment_key, order_id)
        return _about(_payment(self._send("GET", path)), payment_key, order_id)

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> CancelOutcome:
        """Cancel with an idempotency key of (payment key, amount, reason).

        A retry after Unknown must reuse the same reason; two distinct cancels of the same
        amount need distinct reasons (put the refund's own id in it).
        """
        body = v1.cancel_body(amount, reason)
        key = idempotency_key(
            "cancel", payment_key, "all" if amount is None else str(amount), reason
        )
        reply = self._send("POST", v1.cancel_path(payment_key), body=body, idempotency_key=key)
        done = read_reply(reply, wire.cancel_outcome, _toss_failure, "unreadable cancel reply")
        if not isinstance(done, Cancelled):
            return done
        if done.payment_key != payment_key:
            return Unknown(reason="Toss answered about another payment")
        if amount is not None and done.cancelled_amount != amount:
            return Unknown(reason=f"Toss reports a cancel of {done.cancelled_amount}, not {amount}")
        return done

    def settlement(self, day: date) -> list[SettlementLine]:
        """Lines whose ``soldDate`` is ``day`` (Toss's default ``dateType``), every page."""
        lines: list[SettlementLine] = []
        for page in range(1, _MAX_SETTLEMENT_PAGES + 1):
            params = {
                "startDate": day.isoformat(),
                "endDate": day.isoformat(),
                "page": str(page),
                "size": str(SETTLEMENT_PAGE_SIZE),
            }
            reply = self._send("GET", v1.SETTLEMENTS_PATH, params=params)
            batch = settlement_reply(reply, day, wire.settlement_lines)
            lines.extend(batch)
            if len(batch) < SETTLEMENT_PAGE_SIZE:
                return lines
        raise GatewayUnavailable(f"the settlement of {day} has more than {len(lines)} lines")

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookEvent:
        """Verify, then report the payment as Toss answers a query, never as the body says.

        A signature, when present, is checked on the raw bytes first. Payment events are not
        signed by Toss, so ``PAYMENT_STATUS_CHANGED`` is trusted only through ``GET
        /v1/payments/{paymentKey}`` and ``DEPOSIT_CALLBACK`` only if its ``secret`` equals the
        queried payment's. Raises InvalidWebhook, or GatewayUnavailable when Toss cannot be
        asked (answer non-2xx so that Toss redelivers).
        """
        signature = header(headers, SIGNATURE_HEADER)
        if signature is not None:
            why = wire.signature_problem(
                self._webhook_secret,
                signature,
                header(headers, TRANSMISSION_TIME_HEADER),
                body,
                now,
                TOLERANCE_SECONDS,
            )
            if why is not None:
                raise InvalidWebhook(why)
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidWebhook("The webhook body is not JSON.") from exc
        if not isinstance(event, dict):
            raise InvalidWebhook("The webhook body is not a JSON object.")
        event_type = event.get("eventType")
        if event_type == "PAYMENT_STATUS_CHANGED":
            return self._status_changed(event)
        if event_type == "DEPOSIT_CALLBACK" or (event_type is None and "secret" in event):
            return self._deposit_callback(event)
        raise InvalidWebhook(f"Toss event {event_type!r} carries no payment this adapter reads.")

    def _status_changed(self, event: dict[str, Any]) -> WebhookEvent:
        data = event.get("data")
        key = data.get("paymentKey") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(key, str) or not key:
            raise InvalidWebhook("PAYMENT_STATUS_CHANGED without data.paymentKey.")
        created_at = event.get("createdAt")
        facts, payment = self._verified(v1.payment_path(key))
        claimed_order = data.get("orderId")
        if facts.payment_key != key or (
            isinstance(claimed_order, str) and claimed_order != facts.order_id
        ):
            raise InvalidWebhook("The webhook does not match the payment Toss reports.")
        return self._event("PAYMENT_STATUS_CHANGED", created_at, facts, payment)

    def _deposit_callback(self, event: dict[str, Any]) -> WebhookEvent:
        fields = event if "secret" in event else event.get("data")
        if not isinstance(fields, dict):
            raise InvalidWebhook("DEPOSIT_CALLBACK without secret and orderId.")
        secret, order_id = fields.get("secret"), fields.get("orderId")
        if (
            not isinstance(secret, str)
            or not secret
            or not isinstance(order_id, str)
            or not order_id
        ):
            raise InvalidWebhook("DEPOSIT_CALLBACK without secret and orderId.")
        created_at = event.get("createdAt", fields.get("createdAt"))
        facts, payment = self._verified(v1.order_path(order_id))
        if facts.secret is None or not hmac.compare_digest(secret.encode(), facts.secret.encode()):
            raise InvalidWebhook("The DEPOSIT_CALLBACK secret does not match the payment's.")
        return self._event("DEPOSIT_CALLBACK", created_at, facts, payment)

    def _event(
        self,
        event_type: str,
        created_at: object,
        facts: wire.PaymentFacts,
        payment: PaymentOutcome,
    ) -> WebhookEvent:
        try:
            moment = wire.event_time(created_at)
        except wire.WireError as exc:
            raise InvalidWebhook(f"The webhook's createdAt is unreadable: {exc}") from exc
        return WebhookEvent(
            event_id=_event_id(event_type, str(created_at), facts),
            event_type=event_type,
            created_at=moment,
            payment=payment,
            order_id=facts.order_id,
            payment_key=facts.payment_key,
        )

    def _verified(self, path: str) -> tuple[wire.PaymentFacts, PaymentOutcome]:
        """The payment as Toss reports it, for a webhook."""
        reply = self._send("GET", path)
        if isinstance(reply, Unknown):
            raise GatewayUnavailable(f"Toss could not be asked about a webhook: {reply.reason}")
        if not 200 <= reply.status < 300:
            refused = _toss_failure(reply)
            if isinstance(refused, Declined):
                raise InvalidWebhook(f"Toss does not know the webhook's payment ({refused.code}).")
            raise GatewayUnavailable(f"Toss could not be asked about a webhook: {refused.reason}")
        try:
            return wire.payment_facts(reply.body), wire.payment_outcome(reply.body)
        except wire.WireError as exc:
            raise GatewayUnavailable(f"unreadable payment for a webhook: {exc}") from exc
