"""Using up consumable items (a potion, a ticket): the service says how many were used.

Durable items are owned, never consumed (``not_consumable``). An item at zero is ``exhausted``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.catalog.products import get_product
from coffer.entitlements.grants import draw, get_entitlement
from coffer.entitlements.model import Entitlement
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.ledger import store as ledger_store

#: Most of an item consumed in one call.
MAX_CONSUME = 1_000_000


def consume_item(
    conn: Connection, member_id: UUID, entitlement_id: UUID, quantity: int, now: datetime
) -> Entitlement:
    """Take ``quantity`` off one of the member's consumable items; returns it afterwards.

    404 ``entitlement_not_found`` (not the member's); 409 ``entitlement_revoked``; 422
    ``invalid_quantity``, ``not_consumable`` (not an item, or a durable one) and
    ``insufficient_quantity`` (fewer left than asked: nothing is taken).
    """
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_CONSUME
    ):
        raise InvalidInput(
            "invalid_quantity", f"quantity must be an integer from 1 to {MAX_CONSUME}."
        )
    ledger_store.lock_wallet(conn, member_id)
    item = get_entitlement(conn, member_id, entitlement_id)
    if item.status == "revoked":
        raise Conflict(
            "entitlement_revoked", "This item was taken back (its purchase was cancelled)."
        )
    consumable = (
        item.kind == "item"
        and item.product_id is not None
        and bool(get_product(conn, item.service_id, item.product_id).consumable)
    )
    if not consumable:
        raise InvalidInput("not_consumable", "Only consumable items can be consumed.")
    left = item.remaining or 0
    if left < quantity:
        raise InvalidInput(
            "insufficient_quantity",
            f"Requested {quantity} but only {left} is left.",
            {"requested": quantity, "remaining": left},
        )
    draw(conn, item, quantity, now)
    return get_entitlement(conn, member_id, entitlement_id)
