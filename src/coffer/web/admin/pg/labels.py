"""Names of PG companies, payment methods and breaker states as admins read them."""

from __future__ import annotations

from coffer.web.admin.labels import N_

PG_LABELS: dict[str, str] = {
    "sandbox": N_("Sandbox PG"),
    "toss": N_("Toss Payments"),
    "stripe": N_("Stripe"),
}

METHOD_LABELS: dict[str, str] = {
    "card": N_("Card"),
    "transfer": N_("Real-time bank transfer"),
    "virtual_account": N_("Virtual account"),
    "mobile": N_("Mobile (carrier billing)"),
    "gift": N_("Gift certificate"),
}

BREAKER_LABELS: dict[str, str] = {
    "closed": N_("Closed (healthy)"),
    "open": N_("Open (skipped)"),
    "half_open": N_("Half-open (trying again)"),
}

CONTRACT_STATUS_LABELS: dict[str, str] = {
    "active": N_("Active"),
    "disabled": N_("Disabled"),
}
