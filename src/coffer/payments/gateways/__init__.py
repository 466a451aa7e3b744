"""The Gateway port and its adapters. They import the kernel only: an adapter never moves money."""

from coffer.payments.gateways.outcomes import (
    PAYMENT_METHODS,
    Approved,
    CancelEntry,
    Cancelled,
    CancelOutcome,
    Declined,
    PaymentCancelled,
    PaymentMethod,
    PaymentOutcome,
    Pending,
    SettlementLine,
    Unknown,
    WaitingForDeposit,
    WebhookEvent,
)
from coffer.payments.gateways.port import (
    CheckoutRequest,
    Gateway,
    GatewayUnavailable,
    InvalidReturn,
    InvalidWebhook,
    ReturnParams,
)

__all__ = [
    "PAYMENT_METHODS",
    "Approved",
    "CancelEntry",
    "CancelOutcome",
    "Cancelled",
    "CheckoutRequest",
    "Declined",
    "Gateway",
    "GatewayUnavailable",
    "InvalidReturn",
    "InvalidWebhook",
    "PaymentCancelled",
    "PaymentMethod",
    "PaymentOutcome",
    "Pending",
    "ReturnParams",
    "SettlementLine",
    "Unknown",
    "WaitingForDeposit",
    "WebhookEvent",
]
