"""Reading the sandbox PG's JSON (Toss-Payments-like v1) into typed outcomes.

Every reader raises :class:`WireError` on a reply it cannot read with certainty; the HTTP adapter
turns that into :class:`Unknown` (never into a decline). Amounts must be JSON integers: a float, a
string or a bool is a broken reply, never something to round.

The ``Payment`` object is Toss's, read by ``toss_payment`` in the sandbox's :data:`SANDBOX`
dialect: ``method`` is one of our English method names, taken as sent. Settlement lines and
webhook events are the sandbox's own.
"""

from __future__ import annotations

from typing import Any

from coffer.payments.gateways import toss_payment
from coffer.payments.gateways.json_fields import WireError as WireError
from coffer.payments.gateways.json_fields import integer, iso_time, json_object, objects, string
from coffer.payments.gateways.outcomes import (
    PaymentOutcome,
    SettlementKind,
    SettlementLine,
    WebhookEvent,
)
from coffer.payments.gateways.toss_payment import cancel_outcome as cancel_outcome


def _method(obj: dict[str, Any]) -> str:
    return string(obj, "method")


#: The sandbox's way of writing the shared ``Payment`` object: our method names, unmapped.
SANDBOX = toss_payment.Dialect(where="the PG", method=_method)


def payment_outcome(data: object) -> PaymentOutcome:
    """A ``Payment`` object as an outcome, by its ``status`` (see ``toss_payment``)."""
    return toss_payment.payment_outcome(data, SANDBOX)


_KINDS: dict[str, SettlementKind] = {"PAYMENT": "payment", "CANCEL": "cancel"}


def settlement_lines(data: object) -> list[SettlementLine]:
    lines = []
    for line in objects(data, "the settlement data", "a settlement line"):
        kind = _KINDS.get(string(line, "type"))
        if kind is None:
            raise WireError(f"unknown settlement line type {line.get('type')!r}")
        lines.append(
            SettlementLine(
                payment_key=string(line, "paymentKey"),
                order_id=string(line, "orderId"),
                method=_method(line),
                kind=kind,
                amount=integer(line, "amount"),
                fee=integer(line, "fee"),
                payout=integer(line, "payOutAmount"),
                transacted_at=iso_time(line, "transactedAt"),
            )
        )
    return lines


def webhook_event(data: object) -> WebhookEvent:
    event = json_object(data, "the event")
    payment = json_object(event.get("data"), "the event's data")
    return WebhookEvent(
        event_id=string(event, "eventId"),
        event_type=string(event, "eventType"),
        created_at=iso_time(event, "createdAt"),
        payment=payment_outcome(payment),
        order_id=string(payment, "orderId"),
        payment_key=string(payment, "paymentKey"),
    )
