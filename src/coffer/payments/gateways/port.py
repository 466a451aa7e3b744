"""The Gateway port: the operations every payment gateway (PG) offers (DESIGN section 8).

Checkout happens on the PG's hosted page (a redirect), so card data never reaches Coffer. An
adapter speaks one PG's protocol and never moves money: it only reports typed outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from coffer.kernel.errors import CofferError, InvalidInput, Unauthorized
from coffer.payments.gateways.outcomes import (
    CancelOutcome,
    PaymentMethod,
    PaymentOutcome,
    SettlementLine,
    WebhookEvent,
)


class InvalidWebhook(Unauthorized):
    """A webhook whose signature is missing, forged or stale, or whose body is unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_webhook", message)


class InvalidReturn(InvalidInput):
    """The browser's return to the success URL lacks or garbles the PG's parameters."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_pg_return", message)


class GatewayUnavailable(CofferError):
    """The PG could not answer a read that has no outcome to report (e.g. settlement data)."""

    status = 502

    def __init__(self, message: str) -> None:
        super().__init__("gateway_unavailable", message)


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """What the hosted checkout page needs; ``amount`` is in minor units."""

    order_id: str
    amount: int
    currency: str
    method: PaymentMethod
    order_name: str
    success_url: str
    fail_url: str


@dataclass(frozen=True, slots=True)
class ReturnParams:
    """The PG's parameters on the browser's return to the success URL (not yet trusted).

    The caller checks order, amount and currency against its own charge, then confirms.
    ``amount`` is ``None`` for PGs whose return carries no amount (Stripe): the amount in the
    confirm reply is checked instead.
    """

    payment_key: str
    order_id: str
    amount: int | None


class Gateway(Protocol):
    def checkout_url(self, request: CheckoutRequest) -> str:
        """The URL of the PG's hosted checkout page to send the browser to."""
        ...

    def parse_return(self, query_params: Mapping[str, str]) -> ReturnParams:
        """Read the success-URL return; raises :class:`InvalidReturn`."""
        ...

    def confirm(self, payment_key: str, order_id: str, amount: int) -> PaymentOutcome:
        """Approve (server to server) a payment the member authorised on the checkout page."""
        ...

    def query(
        self, *, payment_key: str | None = None, order_id: str | None = None
    ) -> PaymentOutcome:
        """The payment's current state, by payment key or by order id (exactly one)."""
        ...

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> CancelOutcome:
        """Cancel ``amount`` (``None``: everything left) of an approved payment."""
        ...

    def settlement(self, day: date) -> list[SettlementLine]:
        """The PG's settlement lines for ``day``; raises :class:`GatewayUnavailable`."""
        ...

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookEvent:
        """Verify the signature on the raw bytes, then parse; raises :class:`InvalidWebhook`."""
        ...
