"""Changes to the catalog from the admin web: the catalog's own function, then one audit row.

Each function runs in the caller's transaction, so the change and its audit row (actions
``catalog.*``, with the values before and after) commit together or not at all. A refusal of
the catalog raises before anything is written; a change to the value it already has records
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.catalog import categories, packages, products, providers, time_rates
from coffer.catalog.model import Category, ContentProvider, Product
from coffer.web.admin.desk.operator import Operator


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service_id: UUID,
    target: tuple[str, object],
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    if before is not None and before == after:
        return  # the same value again: nothing changed, nothing to record
    target_type, target_id = target
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        service_id=service_id,
        before=before,
        after=after,
        reason="",
        address=who.address,
        now=now,
    )


def _category(value: Category) -> dict[str, Any]:
    return {
        "parent_id": value.parent_id,
        "position": value.position,
        "visible": value.visible,
        "name_ko": value.name_ko,
        "name_en": value.name_en,
    }


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The fields that differ, as (before, after) dicts."""
    keys = [k for k in after if before.get(k) != after[k] and k not in ("updated_at",)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


# --- the menu tree ---------------------------------------------------------------------------


def create_category(
    conn: Connection,
    service_id: UUID,
    *,
    name_ko: str,
    name_en: str,
    parent_id: UUID | None,
    position: int | None,
    who: Operator,
    now: datetime,
) -> Category:
    made = categories.create_category(
        conn, service_id, name_ko=name_ko, name_en=name_en, parent_id=parent_id,
        position=position, now=now,
    )  # fmt: skip
    _record(
        conn, who, "catalog.category_create", service_id, ("category", made.id), None,
        _category(made), now,
    )  # fmt: skip
    return made


def rename_category(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    *,
    name_ko: str,
    name_en: str,
    who: Operator,
    now: datetime,
) -> Category:
    before = categories.get_category(conn, service_id, category_id)
    after = categories.rename_category(
        conn, service_id, category_id, name_ko=name_ko, name_en=name_en, now=now
    )
    _record(
        conn, who, "catalog.category_rename", service_id, ("category", category_id),
        {"name_ko": before.name_ko, "name_en": before.name_en},
        {"name_ko": after.name_ko, "name_en": after.name_en}, now,
    )  # fmt: skip
    return after


def set_category_visible(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    visible: bool,
    *,
    who: Operator,
    now: datetime,
) -> Category:
    before = categories.get_category(conn, service_id, category_id)
    after = categories.set_category_visible(conn, service_id, category_id, visible, now=now)
    _record(
        conn, who, "catalog.category_visibility", service_id, ("category", category_id),
        {"visible": before.visible}, {"visible": after.visible}, now,
    )  # fmt: skip
    return after


def move_category(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    *,
    parent_id: UUID | None,
    position: int | None,
    who: Operator,
    now: datetime,
) -> Category:
    """Move (with its subtree) under ``parent_id`` at ``position``; also reorders siblings."""
    before = categories.get_category(conn, service_id, category_id)
    after = categories.move_category(
        conn, service_id, category_id, parent_id=parent_id, position=position, now=now
    )
    _record(
        conn, who, "catalog.category_move", service_id, ("category", category_id),
        {"parent_id": before.parent_id, "position": before.position},
        {"parent_id": after.parent_id, "position": after.position}, now,
    )  # fmt: skip
    return after


def delete_category(
    conn: Connection, service_id: UUID, category_id: UUID, *, who: Operator, now: datetime
) -> Category:
    before = categories.get_category(conn, service_id, category_id)
    categories.delete_category(conn, service_id, category_id, now=now)
    _record(
        conn, who, "catalog.category_delete", service_id, ("category", category_id),
        _category(before), None, now,
    )  # fmt: skip
    return before


# --- products --------------------------------------------------------------------------------


def _product(value: Product) -> dict[str, Any]:
    values = asdict(value)
    for name in ("id", "service_id", "created_at", "updated_at"):
        values.pop(name)
    return values


def create_product(
    conn: Connection, service_id: UUID, spec: Mapping[str, object], *, who: Operator, now: datetime
) -> Product:
    made = products.create_product(conn, service_id, spec, now=now)
    _record(
        conn, who, "catalog.product_create", service_id, ("product", made.id), None,
        _product(made), now,
    )  # fmt: skip
    return made


def update_product(
    conn: Connection,
    service_id: UUID,
    product_id: UUID,
    changes: Mapping[str, object],
    *,
    who: Operator,
    now: datetime,
) -> tuple[Product, bool]:
    """The product after the change, and whether anything changed (no audit row if not)."""
    before = products.get_product(conn, service_id, product_id)
    after = products.update_product(conn, service_id, product_id, changes, now=now)
    old, new = _changed(_product(before), _product(after))
    if not new:
        return after, False
    _record(conn, who, "catalog.product_update", service_id, ("product", product_id), old, new, now)
    return after, True


def set_product_status(
    conn: Connection,
    service_id: UUID,
    product_id: UUID,
    status: str,
    *,
    who: Operator,
    now: datetime,
) -> Product:
    before = products.get_product(conn, service_id, product_id)
    after = products.set_product_status(conn, service_id, product_id, status, now=now)
    _record(
        conn, who, "catalog.product_status", service_id, ("product", product_id),
        {"status": before.status}, {"status": after.status}, now,
    )  # fmt: skip
    return after


def set_product_categories(
    conn: Connection,
    service_id: UUID,
    product_id: UUID,
    category_ids: Sequence[UUID],
    *,
    who: Operator,
    now: datetime,
) -> list[UUID]:
    before = categories.product_category_ids(conn, service_id, product_id)
    after = categories.set_product_categories(conn, service_id, product_id, category_ids)
    _record(
        conn, who, "catalog.product_categories", service_id, ("product", product_id),
        {"categories": before}, {"categories": after}, now,
    )  # fmt: skip
    return after


def set_package_components(
    conn: Connection,
    service_id: UUID,
    package_id: UUID,
    components: Sequence[tuple[UUID, int]],
    *,
    who: Operator,
    now: datetime,
) -> list[tuple[Product, int]]:
    def shown(pairs: Sequence[tuple[Product, int]]) -> list[dict[str, Any]]:
        return [{"product_id": p.id, "sku": p.sku, "quantity": q} for p, q in pairs]

    before = products.package_components(conn, package_id)
    after = packages.set_package_components(conn, service_id, package_id, components, now=now)
    _record(
        conn, who, "catalog.package_components", service_id, ("product", package_id),
        {"components": shown(before)}, {"components": shown(after)}, now,
    )  # fmt: skip
    return after


# --- content providers and the rate card ------------------------------------------------------


def _provider(value: ContentProvider) -> dict[str, Any]:
    return {"name": value.name, "contact": value.contact, "status": value.status}


def create_provider(
    conn: Connection, service_id: UUID, *, name: str, contact: str, who: Operator, now: datetime
) -> ContentProvider:
    made = providers.create_provider(conn, service_id, name=name, contact=contact, now=now)
    _record(
        conn, who, "catalog.cp_create", service_id, ("content_provider", made.id), None,
        _provider(made), now,
    )  # fmt: skip
    return made


def update_provider(
    conn: Connection,
    service_id: UUID,
    cp_id: UUID,
    *,
    name: str,
    contact: str,
    who: Operator,
    now: datetime,
) -> tuple[ContentProvider, bool]:
    before = providers.get_provider(conn, service_id, cp_id)
    after = providers.update_provider(conn, service_id, cp_id, name=name, contact=contact, now=now)
    old, new = _changed(_provider(before), _provider(after))
    if not new:
        return after, False
    _record(conn, who, "catalog.cp_update", service_id, ("content_provider", cp_id), old, new, now)
    return after, True


def set_provider_status(
    conn: Connection, service_id: UUID, cp_id: UUID, status: str, *, who: Operator, now: datetime
) -> ContentProvider:
    before = providers.get_provider(conn, service_id, cp_id)
    after = providers.set_provider_status(conn, service_id, cp_id, status, now=now)
    _record(
        conn, who, "catalog.cp_status", service_id, ("content_provider", cp_id),
        {"status": before.status}, {"status": after.status}, now,
    )  # fmt: skip
    return after


def set_time_rate(
    conn: Connection, service_id: UUID, cash_per_minute: int, *, who: Operator, now: datetime
) -> bool:
    """Set the rate card; whether it changed (no audit row if not)."""
    before = time_rates.get_rate(conn, service_id)
    if before == cash_per_minute:
        return False
    time_rates.set_rate(conn, service_id, cash_per_minute, now)
    _record(
        conn, who, "catalog.time_rate", service_id, ("time_rate", service_id),
        {"cash_per_minute": before}, {"cash_per_minute": cash_per_minute}, now,
    )  # fmt: skip
    return True
