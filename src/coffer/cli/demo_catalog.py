"""A small demo catalog for ``coffer up``: a game's shop with every kind of product.

Seeded once, when the demo service has no content provider yet.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from coffer.app import Runtime
from coffer.catalog import categories, packages, products, providers, time_rates

DAY = 24 * 3600

#: (sku, kind, name_ko, name_en, price, kind-specific fields, menu)
DEMO_PRODUCTS: tuple[tuple[str, str, str, str, int, dict[str, Any], str], ...] = (
    ("potion-10", "item", "회복 물약 10개", "10 healing potions", 1_000,
     {"consumable": True}, "items"),
    ("dragon-skin", "item", "드래곤 스킨", "Dragon skin", 5_500, {"consumable": False}, "items"),
    ("vip-30", "period_pass", "VIP 30일", "VIP for 30 days", 9_900, {"pass_days": 30}, "passes"),
    ("hints-50", "quantity_pass", "힌트 50회", "50 hints", 3_000,
     {"units": 50, "unit_name": "unit"}, "passes"),
    ("premium-mixed", "mixed", "프리미엄 (30일, 600분 포함)", "Premium (30 days, 600 min)",
     12_000, {"pass_days": 30, "units": 600, "unit_name": "minute", "unit_price": 15}, "passes"),
    ("play-300", "time_coupon", "플레이 300분", "300 minutes of play", 5_000, {"minutes": 300},
     "time"),
    ("cloud-save", "metered", "클라우드 저장 (종량제)", "Cloud saves (pay per use)", 0,
     {"unit_price": 10, "unit_name": "unit", "min_balance": 100}, "time"),
)  # fmt: skip
MENUS = (
    ("items", "아이템", "Items"),
    ("passes", "이용권", "Passes"),
    ("time", "플레이 시간", "Play time"),
)


def ensure_demo_catalog(rt: Runtime, service_id: UUID) -> None:
    """Seed the demo shop unless the service already has a content provider."""

    def seed(conn: Any) -> None:
        if providers.list_providers(conn, service_id):
            return
        now = rt.clock.now()
        studio = providers.create_provider(
            conn, service_id, name="Demo Studio", contact="studio@example.com", now=now
        )
        artist = providers.create_provider(
            conn, service_id, name="Pixel Artists", contact="art@example.com", now=now
        )
        menus = {
            key: categories.create_category(conn, service_id, name_ko=ko, name_en=en, now=now).id
            for key, ko, en in MENUS
        }
        made: dict[str, UUID] = {}
        for sku, kind, name_ko, name_en, price, fields, menu in DEMO_PRODUCTS:
            spec = {
                "sku": sku, "kind": kind, "name_ko": name_ko, "name_en": name_en,
                "price": price, "cp_id": artist.id if sku == "dragon-skin" else studio.id,
                "cancel_window_seconds": 7 * DAY, **fields,
            }  # fmt: skip
            product = products.create_product(conn, service_id, spec, now=now, status="on_sale")
            categories.place_product(conn, service_id, product.id, menus[menu])
            made[sku] = product.id
        bundle = products.create_product(
            conn, service_id,
            {"sku": "starter-pack", "kind": "package", "name_ko": "스타터 팩",
             "name_en": "Starter pack", "price": 8_000, "cp_id": studio.id,
             "cancel_window_seconds": 7 * DAY},
            now=now,
        )  # fmt: skip
        packages.set_package_components(
            conn, service_id, bundle.id,
            [(made["potion-10"], 2), (made["dragon-skin"], 1), (made["play-300"], 1)], now=now,
        )  # fmt: skip
        products.set_product_status(conn, service_id, bundle.id, "on_sale", now=now)
        categories.place_product(conn, service_id, bundle.id, menus["items"], position=0)
        time_rates.set_rate(conn, service_id, 20, now)

    rt.db.write(seed)
