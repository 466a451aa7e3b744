"""The Stripe adapter: the Gateway port over Stripe's API v1 (docs/gateways/stripe.md).

Server-to-server calls carry ``Authorization: Bearer <secret key>`` and a pinned
``Stripe-Version``; bodies are form-encoded (``line_items[0][quantity]=1``), replies are JSON.
Amounts go to Stripe unchanged: Stripe counts in the currency's smallest unit and KRW and JPY
are zero-decimal there, exactly Coffer's minor units (currencies Stripe treats specially are
refused). Only cards are offered; other methods are refused at checkout.

**Payment key.** The browser returns with the Checkout Session id (``cs_…``); every
``Approved``, ``Cancelled``, ``PaymentCancelled`` and settlement line names the PaymentIntent
(``pi_…``), the object refunds and balance transactions point at. ``query``, ``confirm`` and
``cancel`` accept either id.

How replies become outcomes (``confirm`` / ``query``):

=================================================  ==============================================
Stripe says                                        outcome
=================================================  ==============================================
timeout, connection error, any transport failure   Unknown
2xx whose body is not the documented object        Unknown
PaymentIntent ``succeeded``, nothing refunded      Approved(payment_key = PaymentIntent id)
PaymentIntent ``succeeded``, ``amount_refunded``   PaymentCancelled (refunds listed)
``processing`` / ``requires_action`` / ...         Pending(PaymentIntent id)
session ``open`` without a PaymentIntent           Pending(session id, status ``open``)
``requires_payment_method``, session still open    Pending (the member may try another card);
                                                   ``confirm`` first expires the session, then
                                                   Declined(the failure's code)
``requires_payment_method``, session expired       Declined(decline_code or code)
session ``expired`` without a PaymentIntent        Declined(``checkout_session_expired``)
by order id: search finds no PaymentIntent         Declined(``no_payment_for_order``)
PaymentIntent ``canceled``                         Declined(failure code or
                                                   ``payment_intent_canceled``)
401 / 403 / 408 / 409 / 424 / 425 / 429            Unknown
``idempotency_error``, ``api_error``,              Unknown
``lock_timeout``, ``rate_limit``
other 4xx with ``{"error": {"type", ...}}``        Declined(decline_code or code or type)
4xx without a readable error object, 1xx/3xx/5xx   Unknown
=================================================  ==============================================

``query(order_id=…)`` (the janitor's question about a member who never came back) searches
PaymentIntents by ``metadata['order_id']``. Stripe creates the PaymentIntent when a card is first
submitted, so no match means no card was submitted: Declined(``no_payment_for_order``). Search
lags writes by up to a minute, so a card submitted in that minute can still be approved later (a
webhook brings it; Coffer flags ``approved_after_failure``). An error of the search itself is
Unknown. Sessions are created with ``expires_at`` 31 minutes ahead (Stripe's minimum is 30), which
bounds how long a checkout Coffer has given up on can still be paid.

``cancel`` creates a Refund with ``Idempotency-Key`` = hash(PaymentIntent, amount, reason): a
retry after Unknown replays Stripe's saved answer instead of refunding twice. Two deliberate
refunds of one payment must therefore differ in amount or reason within Stripe's 24 hours.
A ``pending`` refund is Cancelled (Stripe accepted it); ``failed``/``canceled`` is Declined.

``settlement(day)`` lists the balance transactions created in that **UTC** day (Stripe's
timestamps are Unix seconds; a KST day spans two UTC days). ``charge``/``payment`` lines are
payments, ``refund``/``payment_refund`` lines cancels; payouts, Stripe fees, adjustments and
refund failures are not lines of a payment and are left out. Any unreadable page, or a line in
another currency than the adapter's, raises :class:`GatewayUnavailable`.

Webhooks are verified on the raw bytes (``Stripe-Signature: t=…,v1=…``, HMAC-SHA256 of
``"{t}." + body``, any ``v1`` may match, 300 s tolerance) by ``gateways.signature``, the same
scheme as the sandbox. An authentic event whose object is unreadable, or of a type not mapped,
carries ``payment=Unknown``.

Stripe documentation used:

- https://docs.stripe.com/api/checkout/sessions/create, …/retrieve, …/expire, …/list
- https://docs.stripe.com/changelog/2022-08-01/deferred-paymentintent-checkout-session
- https://docs.stripe.com/api/payment_intents/object, https://docs.stripe.com/api/payment_intents/search,
  https://docs.stripe.com/search (search query language, data freshness)
- https://docs.stripe.com/api/refunds/create, https://docs.stripe.com/api/refunds/object
- https://docs.stripe.com/api/balance_transactions/list, https://docs.stripe.com/expand/use-cases
- https://docs.stripe.com/api/expanding_objects, https://docs.stripe.com/api/pagination
- https://docs.stripe.com/api/idempotent_requests
- https://docs.stripe.com/api/errors, https://docs.stripe.com/error-codes
- https://docs.stripe.com/webhooks/signatures, https://docs.stripe.com/checkout/fulfillment
- https://docs.stripe.com/currencies (zero-decimal and special-case currencies)
- https://support.stripe.com/questions/how-metadata-works-with-related-objects
"""

from __future__ import annotations

import hashlib
import json
import time as time_module
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from urllib.parse import quote

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import CURRENCY_EXPONENTS, parse_amount
from coffer.payments.gateways import stripe_wire as wire
from coffer.payments.gateways.http_replies import (
    RETRYABLE_4XX,
    HttpGateway,
    Reply,
    header,
    read_reply,
)
from coffer.payments.gateways.outcomes import (
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
    InvalidReturn,
    ReturnParams,
)
from coffer.payments.gateways.signature import verified_event

T = TypeVar("T")

#: The API version every request pins (``latest_charge`` and the deferred PaymentIntent exist).
API_VERSION = "2024-06-20"
SIGNATURE_HEADER = "Stripe-Signature"
#: Page size for balance transactions and refunds (Stripe's maximum).
PAGE_LIMIT = 100
#: A session's life: Stripe's minimum is 30 minutes (default 24 h); a minute more for clock skew.
CHECKOUT_LIFETIME_SECONDS = 31 * 60
#: The literal Stripe replaces with the session id in ``success_url``.
SESSION_TEMPLATE = "{CHECKOUT_SESSION_ID}"

#: Besides the shared ones: 409 (a concurrent request with the same idempotency key), 424.
_RETRYABLE_4XX = RETRYABLE_4XX | {409, 424}
_RETRYABLE_TYPES = frozenset({"idempotency_error", "api_error", "rate_limit_error"})
_RETRYABLE_CODES = frozenset({"lock_timeout", "rate_limit", "idempotency_key_in_use"})
#: Currencies whose Stripe amount is not plainly the ISO minor unit (docs.stripe.com/currencies).
_SPECIAL_CURRENCIES = frozenset({"isk", "huf", "twd", "ugx", "bhd", "jod", "kwd", "omr", "tnd"})


class UnsupportedMethod(InvalidInput):
    """A method Stripe does not offer here (Korean transfer, virtual account, carrier, gift)."""

    def __init__(self, method: str) -> None:
        super().__init__(
            "unsupported_method",
            f"Stripe takes card payments only here; {method!r} is not offered through Stripe.",
            {"supported": ["card"]},
        )


class CheckoutRefused(InvalidInput):
    """Stripe refused to create the Checkout Session (e.g. an amount below its minimum)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(
            "checkout_refused", message or "Stripe refused the checkout.", {"stripe": code}
        )


def _failure(reply: Reply) -> Declined | Unknown:
    """A non-2xx reply as an outcome (see the table)."""
    status = reply.status
    if status >= 500 or status < 400 or status in _RETRYABLE_4XX:
        return Unknown(reason=f"HTTP {status} from Stripe")
    try:
        error = wire.error_body(reply.body)
    except wire.WireError as exc:
        return Unknown(reason=f"HTTP {status} with an unreadable error body: {exc}")
    if error.type in _RETRYABLE_TYPES or error.code in _RETRYABLE_CODES:
        return Unknown(reason=f"HTTP {status} {error.type}/{error.code}: {error.message}")
    return Declined(code=error.outcome_code, message=error.message)


def unix_now() -> int:
    """Seconds since the epoch (a function, so tests can fix it)."""
    return int(time_module.time())


def refund_idempotency_key(payment_intent: str, amount: int | None, reason: str) -> str:
    """The same refund request always gets the same key, so a retry cannot refund twice."""
    material = json.dumps([payment_intent, amount, reason], ensure_ascii=False)
    return f"coffer-refund-{hashlib.sha256(material.encode()).hexdigest()}"


def _search_literal(value: str) -> str:
    """A quoted string in Stripe's search query language (backslash escapes quotes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _with_params(url: str, params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{params}"


_INTENT_RANK = {"succeeded": 0, "requires_payment_method": 2, "canceled": 3}


def _rank(pi: wire.PaymentIntent) -> tuple[int, float]:
    """Which of an order's PaymentIntents tells its state: success first, then the newest."""
    rank = 1 if pi.status in wire.PENDING_STATUSES else _INTENT_RANK.get(pi.status, 4)
    return (rank, -pi.created.timestamp())


API_BASE = "https://api.stripe.com"


class StripeGateway(HttpGateway):
    """Stripe. ``client`` is for tests; without it the gateway owns its own client."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        base_url: str = API_BASE,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        currency: str = "krw",
    ) -> None:
        code = currency.strip().lower()
        if code.upper() not in CURRENCY_EXPONENTS:
            raise ValueError(f"{currency!r} is not an ISO 4217 code Coffer supports")
        if code in _SPECIAL_CURRENCIES:
            raise ValueError(f"Stripe's amounts in {code.upper()} are not plain minor units")
        headers = {"Authorization": f"Bearer {secret_key}", "Stripe-Version": API_VERSION}
        super().__init__(base_url, headers, timeout=timeout, client=client)
        self._currency = code
        self._webhook_secret = webhook_secret

    @staticmethod
    def _read(reply: Reply | Unknown, read: Callable[[object], T]) -> T | Declined | Unknown:
        return read_reply(reply, read, _failure, "unreadable Stripe reply")

    # -- browser side ------------------------------------------------------------------------

    def checkout_url(self, request: CheckoutRequest) -> str:
        parse_amount(request.amount)
        if request.method != "card":
            raise UnsupportedMethod(request.method)
        if request.currency.strip().lower() != self._currency:
            raise InvalidInput(
                "unsupported_currency",
                f"This Stripe gateway charges in {self._currency.upper()}, not {request.currency}.",
            )
        order = quote(request.order_id, safe="")
        form = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", self._currency),
            ("line_items[0][price_data][unit_amount]", str(request.amount)),
            ("line_items[0][price_data][product_data][name]", request.order_name),
            ("line_items[0][quantity]", "1"),
            ("payment_method_types[0]", "card"),
            ("client_reference_id", request.order_id),
            ("metadata[order_id]", request.order_id),
            ("payment_intent_data[metadata][order_id]", request.order_id),
            (
                "success_url",
                _with_params(
                    request.success_url, f"session_id={SESSION_TEMPLATE}&order_id={order}"
                ),
            ),
            ("cancel_url", _with_params(request.fail_url, f"order_id={order}")),
            ("expires_at", str(unix_now() + CHECKOUT_LIFETIME_SECONDS)),
        ]
        reply = self._send("POST", "/v1/checkout/sessions", form=form)
        created = self._read(reply, wire.session)
        if isinstance(created, Unknown):
            raise GatewayUnavailable(f"Stripe did not create the checkout: {created.reason}")
        if isinstance(created, Declined):
            raise CheckoutRefused(created.code, created.message)
        if created.status != "open" or created.url is None:
            raise GatewayUnavailable(f"Stripe created session {created.id} without an open url")
        return created.url

    def parse_return(self, query_params: Mapping[str, str]) -> ReturnParams:
        session_id, order_id = query_params.get("session_id"), query_params.get("order_id")
        if not session_id or not order_id:
            raise InvalidReturn("The return lacks session_id or order_id.")
        if not session_id.startswith("cs_") or SESSION_TEMPLATE in session_id:
            raise InvalidReturn("The returned session_id is not a Checkout Session id.")
        return ReturnParams(payment_key=session_id, order_id=order_id, amount=None)

    # -- payments ----------------------------------------------------------------------------

    def _session(self, session_id: str) -> wire.Session | Declined | Unknown:
        expand = [("expand[]", "payment_intent"), ("expand[]", "payment_intent.latest_charge")]
        path = f"/v1/checkout/sessions/{quote(session_id, safe='')}"
        return self._read(self._send("GET", path, params=expand), wire.session)

    def _refunds(self, intent_id: str) -> list[wire.Refund] | Declined | Unknown:
        found: list[wire.Refund] = []
        after: str | None = None
        while True:
            params = [("payment_intent", intent_id), ("limit", str(PAGE_LIMIT))]
            if after is not None:
                params.append(("starting_after", after))
            page = self._read(self._send("GET", "/v1/refunds", params=params), _refund_page)
            if not isinstance(page, wire.Page):
                return page
            found.extend(page.items)
            if not page.has_more or not page.items:
                return found
            after = page.items[-1].id

    def _outcome(
        self, checkout: wire.Session | None, pi: wire.PaymentIntent | None
    ) -> PaymentOutcome:
        refunds: list[wire.Refund] | None = None
        paid = pi.latest_charge if pi is not None else None
        if (
            pi is not None
            and pi.status == "succeeded"
            and paid is not None
            and paid.amount_refunded
        ):
            listed = self._refunds(pi.id)
            if not isinstance(listed, list):
                reason = listed.reason if isinstance(listed, Unknown) else listed.code
                return Unknown(reason=f"could not list the refunds of {pi.id}: {reason}")
            refunds = listed
        try:
            return wire.payment_outcome(checkout, pi, refunds)
        except wire.WireError as exc:
            return Unknown(reason=f"unreadable Stripe payment: {exc}")

    def _intent_outcome(self, pi: wire.PaymentIntent) -> PaymentOutcome:
        """The outcome of a PaymentIntent; a failed one is final only if its session expired."""
        checkout: wire.Session | None = None
        if pi.status == "requires_payment_method":
            params = [("payment_intent", pi.id), ("limit", "1")]
            page = self._read(
                self._send("GET", "/v1/checkout/sessions", params=params), _session_page
            )
            if not isinstance(page, wire.Page):
                return Unknown(reason=f"could not find the session of {pi.id}")
            checkout = page.items[0] if page.items else None
        return self._outcome(checkout, pi)

    def _expire_refused(self, checkout: wire.Session, pi: wire.PaymentIntent) -> PaymentOutcome:
        """Close an open checkout whose card was refused, so that the refusal is final."""
        path = f"/v1/checkout/sessions/{quote(checkout.id, safe='')}/expire"
        expired = self._read(self._send("POST", path), wire.session)
        if isinstance(expired, Unknown):
            return expired
        if isinstance(expired, Declined) or expired.status != "expired":
            return self.query(payment_key=checkout.id)  # it completed meanwhile: read it again
        return self._outcome(expired, pi)

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        """Read what Checkout did; the caller compares order, amount and currency to its charge."""
        if payment_key.startswith("pi_"):
            return self.query(payment_key=payment_key)
        checkout = self._session(payment_key)
        if not isinstance(checkout, wire.Session):
            return checkout
        pi = checkout.payment_intent
        if (
            checkout.status == "open"
            and pi is not None
            and pi.status == "requires_payment_method"
            and pi.last_error is not None
        ):
            return self._expire_refused(checkout, pi)
        return self._outcome(checkout, pi)

    def query(
        self, *, payment_key: str | None = None, order_id: str | None = None
    ) -> PaymentOutcome:
        if (payment_key is None) == (order_id is None):
            raise ValueError("query needs exactly one of payment_key and order_id")
        if order_id is not None:
            return self._by_order(order_id)
        assert payment_key is not None
        if payment_key.startswith("pi_"):
            path = f"/v1/payment_intents/{quote(payment_key, safe='')}"
            reply = self._send("GET", path, params=[("expand[]", "latest_charge")])
            pi = self._read(reply, wire.payment_intent)
            return pi if not isinstance(pi, wire.PaymentIntent) else self._intent_outcome(pi)
        checkout = self._session(payment_key)
        if not isinstance(checkout, wire.Session):
            return checkout
        return self._outcome(checkout, checkout.payment_intent)

    def _by_order(self, order_id: str) -> PaymentOutcome:
        params = [
            ("query", f"metadata['order_id']:{_search_literal(order_id)}"),
            ("limit", str(PAGE_LIMIT)),
            ("expand[]", "data.latest_charge"),
        ]
        reply = self._send("GET", "/v1/payment_intents/search", params=params)
        page = self._read(reply, _intent_search)
        if isinstance(page, Declined):
            return Unknown(reason=f"Stripe refused the search: {page.code} {page.message}")
        if isinstance(page, Unknown):
            return page
        mine = [pi for pi in page.items if pi.order_id == order_id]
        if not mine:
            return Declined(
                "no_payment_for_order",
                f"Stripe has no payment for order {order_id}: no card was submitted "
                "(or it was submitted within the last minute, which search may not show yet).",
            )
        return self._intent_outcome(min(mine, key=_rank))

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> CancelOutcome:
        if amount is not None:
            parse_amount(amount, field="amount")
        intent_id = payment_key
        if not payment_key.startswith("pi_"):
            checkout = self._session(payment_key)
            if not isinstance(checkout, wire.Session):
                return checkout
            if checkout.payment_intent_id is None:
                return Declined("no_payment", "The checkout has no payment to refund.")
            intent_id = checkout.payment_intent_id
        form = [("payment_intent", intent_id), ("metadata[reason]", reason[:500])]
        if amount is not None:
            form.append(("amount", str(amount)))
        form.append(("expand[]", "charge"))
        key = refund_idempotency_key(intent_id, amount, reason)
        made = self._read(
            self._send("POST", "/v1/refunds", form=form, idempotency_key=key), wire.refund
        )
        if not isinstance(made, wire.Refund):
            return made
        try:
            return wire.cancel_outcome(made)
        except wire.WireError as exc:
            return Unknown(reason=f"unreadable refund: {exc}")

    # -- settlement --------------------------------------------------------------------------

    def _balance_transactions(self, day: date) -> list[wire.BalanceTransaction]:
        start = datetime.combine(day, time.min, UTC)
        base = [
            ("created[gte]", str(int(start.timestamp()))),
            ("created[lt]", str(int((start + timedelta(days=1)).timestamp()))),
            ("limit", str(PAGE_LIMIT)),
            ("expand[]", "data.source"),
        ]
        found: list[wire.BalanceTransaction] = []
        after: str | None = None
        while True:
            params = base + ([("starting_after", after)] if after is not None else [])
            reply = self._send("GET", "/v1/balance_transactions", params=params)
            page = self._read(reply, _balance_page)
            if not isinstance(page, wire.Page):
                why = page.reason if isinstance(page, Unknown) else f"{page.code} {page.message}"
                raise GatewayUnavailable(f"Stripe's balance transactions for {day}: {why}")
            found.extend(page.items)
            if not page.has_more:
                return found
            if not page.items:
                raise GatewayUnavailable("Stripe answered has_more with an empty page")
            after = page.items[-1].id

    def _payment_of(self, intent_id: str) -> tuple[str, str]:
        """``(order_id, method)`` of a PaymentIntent, for a refund line."""
        path = f"/v1/payment_intents/{quote(intent_id, safe='')}"
        reply = self._send("GET", path, params=[("expand[]", "latest_charge")])
        pi = self._read(reply, wire.payment_intent)
        if not isinstance(pi, wire.PaymentIntent):
            raise GatewayUnavailable(f"could not read PaymentIntent {intent_id}")
        if pi.order_id is None or pi.latest_charge is None:
            raise GatewayUnavailable(f"PaymentIntent {intent_id} has no order id or charge")
        return pi.order_id, pi.latest_charge.method

    def settlement(self, day: date) -> list[SettlementLine]:
        listed = list(reversed(self._balance_transactions(day)))  # Stripe lists newest first
        known: dict[str, tuple[str, str]] = {}
        for bt in listed:
            src = bt.source
            if isinstance(src, wire.Charge) and src.payment_intent and src.order_id:
                known[src.payment_intent] = (src.order_id, src.method)
        lines = []
        for bt in listed:
            kind = wire.settlement_kind(bt)
            if kind is None or bt.source is None:
                continue
            if bt.currency != self._currency.upper():
                raise GatewayUnavailable(f"{bt.id} is in {bt.currency}, not {self._currency}")
            intent_id = bt.source.payment_intent
            if intent_id is None:
                raise GatewayUnavailable(f"{bt.id}'s source names no PaymentIntent")
            if intent_id not in known:
                known[intent_id] = self._payment_of(intent_id)
            order_id, method = known[intent_id]
            lines.append(
                SettlementLine(
                    payment_key=intent_id,
                    order_id=order_id,
                    method=method,
                    kind=kind,
                    amount=bt.amount,
                    fee=bt.fee,
                    payout=bt.net,
                    transacted_at=bt.created,
                )
            )
        return lines

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        return verified_event(
            self._webhook_secret,
            signature,
            body,
            now,
            wire.webhook_event,
            "a readable Stripe event",
        )


def _refund_page(data: object) -> wire.Page[wire.Refund]:
    return wire.list_page(data, wire.refund)


def _session_page(data: object) -> wire.Page[wire.Session]:
    return wire.list_page(data, wire.session)


def _balance_page(data: object) -> wire.Page[wire.BalanceTransaction]:
    return wire.list_page(data, wire.balance_transaction)


def _intent_search(data: object) -> wire.Page[wire.PaymentIntent]:
    return wire.list_page(data, wire.payment_intent, kind="search_result")
