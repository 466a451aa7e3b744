"""Names of charge and refund states, refund kinds and attention reasons as admins read them."""

from __future__ import annotations

from coffer.web.admin.labels import N_

CHARGE_STATUS_LABELS: dict[str, str] = {
    "created": N_("Created (member at checkout)"),
    "in_progress": N_("In progress at the PG"),
    "unknown": N_("Unknown (the janitor asks the PG)"),
    "waiting_for_deposit": N_("Waiting for deposit"),
    "approved": N_("Approved"),
    "partially_cancelled": N_("Partially cancelled"),
    "cancelled": N_("Cancelled"),
    "failed": N_("Failed"),
    "expired": N_("Expired"),
}

REFUND_STATUS_LABELS: dict[str, str] = {
    "pending": N_("Waiting to be sent to the PG"),
    "sending": N_("Sent to the PG"),
    "unknown": N_("PG answer lost (asked again)"),
    "done": N_("Done"),
    "refused": N_("Refused by the PG"),
    "requested": N_("Bank refund to pay"),
}

REFUND_KIND_LABELS: dict[str, str] = {
    "pg_cancel": N_("PG cancel"),
    "bank_refund": N_("Bank refund"),
}

#: Why a person must look at a charge (``charges.attention``).
ATTENTION_LABELS: dict[str, str] = {
    "return_mismatch": N_(
        "The member's return from the PG did not match the charge (order, amount or payment "
        "key): nothing was confirmed. Check the payment at the PG."
    ),
    "approved_after_failure": N_(
        "The PG approved a payment for a charge that had already failed or expired: no cash was "
        "credited. Cancel the payment at the PG or credit the member by hand."
    ),
    "approved_amount_mismatch": N_(
        "The PG approved a different amount, order or currency than the charge: nothing was "
        "credited. Check the payment at the PG."
    ),
    "second_approval": N_(
        "The PG reported a second approved payment for this charge: only one was credited. "
        "Cancel the other payment at the PG."
    ),
    "cancelled_outside_coffer": N_(
        "The PG cancelled more of this payment than Coffer's refunds explain. Check the PG's "
        "cancel list."
    ),
    "janitor_gave_up": N_(
        "The janitor could not learn the outcome from the PG after its whole schedule. Settle "
        "it by hand with the PG."
    ),
}

#: Styles of a status badge: good, bad, open (not settled yet), or plain.
STATUS_TONES: dict[str, str] = {
    "approved": "good",
    "partially_cancelled": "plain",
    "cancelled": "plain",
    "failed": "bad",
    "expired": "bad",
    "created": "open",
    "in_progress": "open",
    "unknown": "open",
    "waiting_for_deposit": "open",
}
