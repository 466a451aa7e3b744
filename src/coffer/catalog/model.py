"""Catalog records as plain values, and the pure rules about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ContentProvider:
    id: UUID
    service_id: UUID
    name: str
    contact: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Category:
    id: UUID
    service_id: UUID
    parent_id: UUID | None
    position: int
    visible: bool
    name_ko: str
    name_en: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Product:
    """A product as stored; see ``catalog.tables`` for which fields each kind uses."""

    id: UUID
    service_id: UUID
    sku: str
    kind: str
    status: str
    cp_id: UUID
    name_ko: str
    name_en: str
    description_ko: str
    description_en: str
    price: int
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    limit_count: int | None
    limit_days: int | None
    cancel_window_seconds: int
    consumable: bool | None
    pass_days: int | None
    units: int | None
    unit_name: str | None
    unit_price: int | None
    min_balance: int | None
    minutes: int | None
    created_at: datetime
    updated_at: datetime


def is_on_sale(product: Product, now: datetime) -> bool:
    """On sale and inside its sale window (an open end is no limit)."""
    if product.status != "on_sale":
        return False
    if product.sale_starts_at is not None and now < product.sale_starts_at:
        return False
    return product.sale_ends_at is None or now < product.sale_ends_at
