"""Content providers (CPs): who owns each product and is paid a share of its sales.

Each function takes the caller's connection and the service id (the catalog does not read the
tenancy package: the entry point knows its service). Everything is validated before anything is
written, so a refused call changes nothing.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog import validation as check
from coffer.catalog.model import ContentProvider
from coffer.catalog.tables import CP_STATUSES, content_providers, products
from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import Conflict, NotFound
from coffer.kernel.ids import uuid7

CONTACT_MAX = 500


def _provider(row: RowMapping) -> ContentProvider:
    return ContentProvider(**{field.name: row[field.name] for field in fields(ContentProvider)})


def provider_name(value: object) -> str:
    return check.text(value, "invalid_cp_name", "name", check.NAME_MAX)


def provider_contact(value: object) -> str:
    return check.optional_text(value, "invalid_contact", "contact", CONTACT_MAX)


def provider_status(value: object) -> str:
    return check.choice(value, "invalid_cp_status", "status", CP_STATUSES)


# --- reads ----------------------------------------------------------------------------------


def get_provider(
    conn: Connection, service_id: UUID, cp_id: UUID, *, lock: bool = False
) -> ContentProvider:
    """A CP of this service; another service's is as unknown as a missing one.

    ``lock`` holds the row until the transaction ends (on PostgreSQL), so that a status change
    and a product put on sale for the CP cannot pass each other.
    """
    query = select(content_providers).where(
        content_providers.c.id == cp_id, content_providers.c.service_id == service_id
    )
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("cp_not_found", "No such content provider in this service.")
    return _provider(row)


def list_providers(conn: Connection, service_id: UUID) -> list[ContentProvider]:
    """The service's CPs by name."""
    rows = conn.execute(
        select(content_providers)
        .where(content_providers.c.service_id == service_id)
        .order_by(content_providers.c.name, content_providers.c.id)
    ).mappings()
    return [_provider(row) for row in rows]


# --- writes ---------------------------------------------------------------------------------


def create_provider(
    conn: Connection, service_id: UUID, *, name: str, contact: str = "", now: datetime
) -> ContentProvider:
    """A new active CP; 409 ``cp_name_taken`` if the service already has one by that name."""
    cp_id, cleaned = uuid7(), provider_name(name)
    values = {
        "id": cp_id,
        "service_id": service_id,
        "name": cleaned,
        "contact": provider_contact(contact),
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    if not insert_if_absent(conn, content_providers, values, conflict_on=["service_id", "name"]):
        raise _name_taken(cleaned)
    return get_provider(conn, service_id, cp_id)


def update_provider(
    conn: Connection,
    service_id: UUID,
    cp_id: UUID,
    *,
    name: str | None = None,
    contact: str | None = None,
    now: datetime,
) -> ContentProvider:
    """Change the name and/or the contact (None leaves a field as it is)."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = provider_name(name)
    if contact is not None:
        changes["contact"] = provider_contact(contact)
    current = get_provider(conn, service_id, cp_id)
    if "name" in changes and changes["name"] != current.name:
        taken = conn.execute(
            select(content_providers.c.id).where(
                content_providers.c.service_id == service_id,
                content_providers.c.name == changes["name"],
            )
        ).first()
        if taken is not None:
            raise _name_taken(str(changes["name"]))
    if changes:
        conn.execute(
            update(content_providers)
            .where(content_providers.c.id == cp_id)
            .values(**changes, updated_at=now)
        )
    return get_provider(conn, service_id, cp_id)


def set_provider_status(
    conn: Connection, service_id: UUID, cp_id: UUID, status: str, *, now: datetime
) -> ContentProvider:
    """Activate or deactivate a CP (the same status again changes nothing).

    An inactive CP's products cannot be created or put on sale, so a CP with products on sale
    cannot be deactivated: 409 ``cp_has_products_on_sale`` (take them off sale first).
    """
    wanted = provider_status(status)
    current = get_provider(conn, service_id, cp_id, lock=True)
    if current.status == wanted:
        return current
    if wanted == "inactive":
        on_sale = conn.execute(
            select(func.count())
            .select_from(products)
            .where(products.c.cp_id == cp_id, products.c.status == "on_sale")
        ).scalar_one()
        if on_sale:
            raise Conflict(
                "cp_has_products_on_sale",
                f"The CP has {on_sale} products on sale: take them off sale first.",
                {"products_on_sale": on_sale},
            )
    conn.execute(
        update(content_providers)
        .where(content_providers.c.id == cp_id)
        .values(status=wanted, updated_at=now)
    )
    return get_provider(conn, service_id, cp_id)


def active_provider(conn: Connection, service_id: UUID, cp_id: UUID) -> ContentProvider:
    """The CP, refused with 409 ``cp_inactive`` unless it is active (for products to sell)."""
    provider = get_provider(conn, service_id, cp_id, lock=True)
    if provider.status != "active":
        raise Conflict("cp_inactive", f"The content provider {provider.name!r} is inactive.")
    return provider


def _name_taken(name: str) -> Conflict:
    return Conflict("cp_name_taken", f"The service already has a content provider {name!r}.")
