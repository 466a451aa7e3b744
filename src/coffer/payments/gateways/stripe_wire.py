"""Reading Stripe's API objects (JSON) strictly, and turning them into outcomes.

Every reader raises :class:`WireError` on a reply it cannot read with certainty (wrong
``object`` type, a missing id, an amount that is not a JSON integer, ...); the adapter turns that
into :class:`Unknown`, never into a decline. Times are Unix seconds on the wire and UTC here.
Stripe sends currencies in lowercase; outcomes carry them in uppercase like the rest of Coffer.

Field names follow the API reference (https://docs.stripe.com/api): Checkout Session,
PaymentIntent, Charge, Refund, BalanceTransaction, Event, the list and search-result envelopes and
the error object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from coffer.payments.gateways.json_fields import WireError as WireError
from coffer.payments.gateways.json_fields import (
    boolean,
    integer,
    json_object,
    optional_integer,
    optional_string,
    string,
    text,
    unix_time,
)
from coffer.payments.gateways.outcomes import (
    Approved,
    CancelEntry,
    Cancelled,
    CancelOutcome,
    Declined,
    PaymentCancelled,
    PaymentOutcome,
    Pending,
    SettlementKind,
    Unknown,
    WebhookEvent,
)

T = TypeVar("T")

#: PaymentIntent statuses in which money may still move without a new checkout.
PENDING_STATUSES = frozenset(
    {"processing", "requires_action", "requires_confirmation", "requires_capture"}
)
#: Refund statuses that count as a cancel (a ``pending`` card refund is accepted, not yet final).
LIVE_REFUND_STATUSES = frozenset({"succeeded", "pending"})


# -- primitives ------------------------------------------------------------------------------


def _metadata(obj: dict[str, Any], key: str) -> str | None:
    """``metadata[key]``: Stripe's metadata is a string-to-string map (``{}`` when empty)."""
    metadata = obj.get("metadata")
    if metadata is None:
        return None
    return optional_string(json_object(metadata, "'metadata'"), key)


def _method_types(obj: dict[str, Any]) -> tuple[str, ...]:
    raw = obj.get("payment_method_types")
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise WireError("'payment_method_types' is not a list of strings")
    return tuple(raw)


def _sole_method(obj: dict[str, Any]) -> str:
    """The method of a session or PaymentIntent offered exactly one (the adapter offers card)."""
    types = _method_types(obj)
    if len(types) != 1:
        raise WireError(f"cannot tell the method among {list(types)}")
    return types[0]


def _expandable(obj: dict[str, Any], key: str) -> tuple[str | None, dict[str, Any] | None]:
    """An expandable field: ``(id, None)``, ``(id, object)`` when expanded, or ``(None, None)``."""
    value = obj.get(key)
    if value is None:
        return None, None
    if isinstance(value, str) and value:
        return value, None
    if isinstance(value, dict):
        return string(value, "id"), value
    raise WireError(f"{key!r} is neither an id nor an object")


# -- objects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StripeError:
    """The ``error`` object of a non-2xx reply (https://docs.stripe.com/api/errors)."""

    type: str
    code: str | None
    decline_code: str | None
    message: str

    @property
    def outcome_code(self) -> str:
        """The most specific code: the issuer's ``decline_code``, else ``code``, else ``type``."""
        return self.decline_code or self.code or self.type


def _error_fields(error: dict[str, Any]) -> StripeError:
    return StripeError(
        type=string(error, "type"),
        code=optional_string(error, "code"),
        decline_code=optional_string(error, "decline_code"),
        message=text(error, "message"),
    )


def error_body(data: object) -> StripeError:
    """``{"error": {"type", "code", "decline_code", "message", ...}}``."""
    return _error_fields(json_object(json_object(data, "the error reply").get("error"), "'error'"))


@dataclass(frozen=True, slots=True)
class Charge:
    id: str
    payment_intent: str | None
    order_id: str | None
    amount: int
    amount_refunded: int
    refunded: bool
    method: str
    currency: str
    created: datetime


def charge(data: object) -> Charge:
    obj = json_object(data, "the charge", "charge")
    details = json_object(obj.get("payment_method_details"), "'payment_method_details'")
    return Charge(
        id=string(obj, "id"),
        payment_intent=_expandable(obj, "payment_intent")[0],
        order_id=_metadata(obj, "order_id"),
        amount=integer(obj, "amount"),
        amount_refunded=integer(obj, "amount_refunded"),
        refunded=boolean(obj, "refunded"),
        method=string(details, "type"),
        currency=string(obj, "currency").upper(),
        created=unix_time(obj, "created"),
    )


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    order_id: str | None
    last_error: StripeError | None
    cancellation_reason: str | None
    latest_charge: Charge | None  # only when ``latest_charge`` was expanded
    created: datetime


def _last_error(obj: dict[str, Any]) -> StripeError | None:
    error = obj.get("last_payment_error")
    return None if error is None else _error_fields(json_object(error, "'last_payment_error'"))


def payment_intent(data: object) -> PaymentIntent:
    obj = json_object(data, "the PaymentIntent", "payment_intent")
    _, charge_obj = _expandable(obj, "latest_charge")
    return PaymentIntent(
        id=string(obj, "id"),
        status=string(obj, "status"),
        amount=integer(obj, "amount"),
        amount_received=integer(obj, "amount_received"),
        currency=string(obj, "currency").upper(),
        order_id=_metadata(obj, "order_id"),
        last_error=_last_error(obj),
        cancellation_reason=optional_string(obj, "cancellation_reason"),
        latest_charge=None if charge_obj is None else charge(charge_obj),
        created=unix_time(obj, "created"),
    )


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    order_id: str | None  # client_reference_id
    amount_total: int | None
    currency: str | None
    url: str | None
    payment_intent_id: str | None
    payment_intent: PaymentIntent | None  # only when ``payment_intent`` was expanded


def session(data: object) -> Session:
    obj = json_object(data, "the Checkout Session", "checkout.session")
    pi_id, pi_obj = _expandable(obj, "payment_intent")
    currency = optional_string(obj, "currency")
    return Session(
        id=string(obj, "id"),
        status=string(obj, "status"),
        payment_status=string(obj, "payment_status"),
        order_id=optional_string(obj, "client_reference_id"),
        amount_total=optional_integer(obj, "amount_total"),
        currency=None if currency is None else currency.upper(),
        url=optional_string(obj, "url"),
        payment_intent_id=pi_id,
        payment_intent=None if pi_obj is None else payment_intent(pi_obj),
    )


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    status: str
    payment_intent: str | None
    reason: str
    failure_reason: str | None
    created: datetime
    charge: Charge | None  # only when ``charge`` was expanded


def refund(data: object) -> Refund:
    obj = json_object(data, "the refund", "refund")
    _, charge_obj = _expandable(obj, "charge")
    return Refund(
        id=string(obj, "id"),
        amount=integer(obj, "amount"),
        status=string(obj, "status"),
        payment_intent=_expandable(obj, "payment_intent")[0],
        reason=_metadata(obj, "reason") or optional_string(obj, "reason") or "",
        failure_reason=optional_string(obj, "failure_reason"),
        created=unix_time(obj, "created"),
        charge=None if charge_obj is None else charge(charge_obj),
    )


@dataclass(frozen=True, slots=True)
class BalanceTransaction:
    id: str
    type: str
    amount: int
    fee: int
    net: int
    currency: str
    created: datetime
    source: Charge | Refund | None  # expanded ``source`` of a charge/payment or refund line


_PAYMENT_TYPES = frozenset({"charge", "payment"})
_REFUND_TYPES = frozenset({"refund", "payment_refund"})


def settlement_kind(bt: BalanceTransaction) -> SettlementKind | None:
    """``payment`` / ``cancel`` for a payment's lines; None for payouts, fees, adjustments, ..."""
    if bt.type in _PAYMENT_TYPES:
        return "payment"
    if bt.type in _REFUND_TYPES:
        return "cancel"
    return None


def balance_transaction(data: object) -> BalanceTransaction:
    obj = json_object(data, "the balance transaction", "balance_transaction")
    kind = obj.get("type")
    source: Charge | Refund | None = None
    if kind in _PAYMENT_TYPES or kind in _REFUND_TYPES:
        _, expanded = _expandable(obj, "source")
        if expanded is None:
            raise WireError(f"the {kind} line's 'source' was not expanded")
        source = charge(expanded) if kind in _PAYMENT_TYPES else refund(expanded)
    line = BalanceTransaction(
        id=string(obj, "id"),
        type=string(obj, "type"),
        amount=integer(obj, "amount"),
        fee=integer(obj, "fee"),
        net=integer(obj, "net"),
        currency=string(obj, "currency").upper(),
        created=unix_time(obj, "created"),
        source=source,
    )
    if line.amount - line.fee != line.net:
        raise WireError(f"{line.id}: amount - fee != net")
    return line


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


def list_page(data: object, read: Callable[[object], T], kind: str = "list") -> Page[T]:
    """A ``list`` (or ``search_result``) envelope: ``{"data": [...], "has_more": bool}``."""
    obj = json_object(data, f"the {kind}", kind)
    items = obj.get("data")
    if not isinstance(items, list):
        raise WireError("'data' is not a list")
    return Page([read(item) for item in items], boolean(obj, "has_more"))


# -- outcomes --------------------------------------------------------------------------------


def _declined(pi: PaymentIntent | None, fallback: str, message: str) -> Declined:
    if pi is not None and pi.last_error is not None:
        return Declined(pi.last_error.outcome_code, pi.last_error.message or message)
    return Declined(fallback, message)


def _cancels(refunds: list[Refund]) -> tuple[CancelEntry, ...]:
    live = sorted((r for r in refunds if r.status in LIVE_REFUND_STATUSES), key=_refund_order)
    return tuple(CancelEntry(r.amount, r.created, r.reason, r.id) for r in live)


def _refund_order(r: Refund) -> tuple[datetime, str]:
    return (r.created, r.id)


def _succeeded(pi: PaymentIntent, order_id: str, refunds: list[Refund] | None) -> PaymentOutcome:
    paid = pi.latest_charge
    if paid is None:
        raise WireError("a succeeded PaymentIntent without an expanded latest_charge")
    if paid.amount_refunded > 0:
        if refunds is None:
            raise WireError("refunds exist but were not read")
        return PaymentCancelled(
            payment_key=pi.id,
            order_id=order_id,
            method=paid.method,
            total_amount=paid.amount,
            balance_amount=paid.amount - paid.amount_refunded,
            partial=not paid.refunded,
            cancels=_cancels(refunds),
        )
    return Approved(
        payment_key=pi.id,
        order_id=order_id,
        amount=pi.amount_received,
        method=paid.method,
        approved_at=paid.created,
        currency=pi.currency,
    )


def payment_outcome(
    checkout: Session | None, pi: PaymentIntent | None, refunds: list[Refund] | None = None
) -> PaymentOutcome:
    """The payment's state from its session and/or PaymentIntent (see the adapter's table).

    A PaymentIntent in ``requires_payment_method`` is Pending while its session is open: the
    member may try another card on the same checkout page. Only an expired session (or a
    cancelled PaymentIntent) makes the refusal definite.
    """
    order_id = checkout.order_id if checkout is not None else None
    if pi is None:
        if checkout is None:
            raise WireError("neither a session nor a PaymentIntent")
        if order_id is None:
            raise WireError("the session has no client_reference_id")
        if checkout.status == "open":
            return Pending(payment_key=checkout.id, order_id=order_id, status="open")
        if checkout.status == "expired":
            return Declined("checkout_session_expired", "The checkout expired unpaid.")
        return Unknown(f"session {checkout.status}/{checkout.payment_status} without a payment")
    order_id = order_id or pi.order_id
    if order_id is None:
        raise WireError("the PaymentIntent has no metadata[order_id]")
    if pi.status == "succeeded":
        return _succeeded(pi, order_id, refunds)
    if pi.status in PENDING_STATUSES:
        return Pending(payment_key=pi.id, order_id=order_id, status=pi.status)
    if pi.status == "requires_payment_method":
        if checkout is not None and checkout.status == "expired":
            return _declined(pi, "checkout_session_expired", "The checkout expired unpaid.")
        return Pending(payment_key=pi.id, order_id=order_id, status=pi.status)
    if pi.status == "canceled":
        reason = pi.cancellation_reason or "canceled"
        return _declined(pi, "payment_intent_canceled", f"The payment was cancelled ({reason}).")
    return Unknown(f"unexpected PaymentIntent status {pi.status!r}")


def cancel_outcome(made: Refund) -> CancelOutcome:
    """A Refund just created (with ``charge`` expanded) as a cancel outcome."""
    if made.status in ("failed", "canceled"):
        code = made.failure_reason or f"refund_{made.status}"
        return Declined(code, f"Stripe reports the refund {made.status}.")
    if made.status not in LIVE_REFUND_STATUSES:
        return Unknown(f"refund {made.id} is {made.status!r}")
    if made.charge is None or made.payment_intent is None:
        raise WireError("the refund lacks its expanded charge or its payment_intent")
    return Cancelled(
        payment_key=made.payment_intent,
        balance_amount=made.charge.amount - made.charge.amount_refunded,
        cancelled_amount=made.amount,
        transaction_key=made.id,
        cancelled_at=made.created,
    )


# -- webhooks --------------------------------------------------------------------------------

#: Event types mapped to a payment state; any other verified event carries ``Unknown``.
MAPPED_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
)


def _session_event(kind: str, obj: object, at: datetime) -> tuple[PaymentOutcome, str, str]:
    raw = json_object(obj, "the event's session", "checkout.session")
    s = session(raw)
    if s.order_id is None:
        raise WireError("the session has no client_reference_id")
    key = s.payment_intent_id or s.id
    if kind == "checkout.session.async_payment_failed":
        return Declined("async_payment_failed", "The delayed payment failed."), s.order_id, key
    if kind == "checkout.session.expired":
        return Declined("checkout_session_expired", "The checkout expired."), s.order_id, key
    if s.payment_status == "unpaid":
        return Pending(payment_key=key, order_id=s.order_id, status="unpaid"), s.order_id, key
    if s.payment_status != "paid" or s.payment_intent_id is None:
        return Unknown(f"session payment_status {s.payment_status!r}"), s.order_id, key
    if s.amount_total is None or s.currency is None:
        raise WireError("a paid session without amount_total or currency")
    approved = Approved(
        payment_key=s.payment_intent_id,
        order_id=s.order_id,
        amount=s.amount_total,
        method=_sole_method(raw),
        approved_at=at,
        currency=s.currency,
    )
    return approved, s.order_id, key


def _intent_event(kind: str, obj: object, at: datetime) -> tuple[PaymentOutcome, str, str]:
    raw = json_object(obj, "the event's PaymentIntent", "payment_intent")
    pi = payment_intent(raw)
    if pi.order_id is None:
        raise WireError("the PaymentIntent has no metadata[order_id]")
    if kind == "payment_intent.succeeded":
        approved = Approved(
            payment_key=pi.id,
            order_id=pi.order_id,
            amount=pi.amount_received,
            method=_sole_method(raw),
            approved_at=at,
            currency=pi.currency,
        )
        return approved, pi.order_id, pi.id
    return payment_outcome(None, pi), pi.order_id, pi.id


def _refund_event(obj: object) -> tuple[PaymentOutcome, str | None, str | None]:
    raw = json_object(obj, "the event's charge", "charge")
    c = charge(raw)
    if c.payment_intent is None or c.order_id is None:
        raise WireError("the charge lacks payment_intent or metadata[order_id]")
    refunds: list[Refund] = []
    if isinstance(raw.get("refunds"), dict):  # only when the endpoint's version includes it
        refunds = list_page(raw["refunds"], refund).items
    outcome = PaymentCancelled(
        payment_key=c.payment_intent,
        order_id=c.order_id,
        method=c.method,
        total_amount=c.amount,
        balance_amount=c.amount - c.amount_refunded,
        partial=not c.refunded,
        cancels=_cancels(refunds),
    )
    return outcome, c.order_id, c.payment_intent


def webhook_event(data: object) -> WebhookEvent:
    """A verified Event. An unreadable or unmapped ``data.object`` gives ``payment=Unknown``."""
    event = json_object(data, "the event", "event")
    event_id, kind, at = string(event, "id"), string(event, "type"), unix_time(event, "created")
    inner = json_object(event.get("data"), "'data'").get("object")
    order_id: str | None = None
    payment_key: str | None = None
    payment: PaymentOutcome
    try:
        if kind.startswith("checkout.session.") and kind in MAPPED_EVENTS:
            payment, order_id, payment_key = _session_event(kind, inner, at)
        elif kind.startswith("payment_intent.") and kind in MAPPED_EVENTS:
            payment, order_id, payment_key = _intent_event(kind, inner, at)
        elif kind == "charge.refunded":
            payment, order_id, payment_key = _refund_event(inner)
        else:
            payment = Unknown(f"event type {kind!r} carries no payment state for Coffer")
    except WireError as exc:
        payment = Unknown(f"unreadable {kind} object: {exc}")
    return WebhookEvent(event_id, kind, at, payment, order_id=order_id, payment_key=payment_key)
