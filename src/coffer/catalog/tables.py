"""Tables owned by the catalog (docs/catalog.md).

Product kinds and their parameters (the columns a kind does not use stay NULL; CHECKs say so):

- ``item``: ``consumable`` (a consumable item's quantity is used down through the API);
- ``period_pass`` (정액제): ``pass_days`` of unlimited use; buying again extends;
- ``quantity_pass`` (정량제): ``units`` of ``unit_name`` (``unit`` or ``minute``);
- ``metered`` (종량제): ``unit_price`` cash per unit of ``unit_name``, charged as usage is
  reported; ``min_balance`` is the cash a session needs to start; ``price`` is 0;
- ``mixed`` (혼합): a ``pass_days`` pass including ``units``, then ``unit_price`` per unit over;
- ``package``: the components in ``package_components``, sold at ``price``;
- ``time_coupon``: ``minutes`` of play time for ``price``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

PRODUCT_KINDS = (
    "item",
    "period_pass",
    "quantity_pass",
    "metered",
    "mixed",
    "package",
    "time_coupon",
)
PRODUCT_STATUSES = ("draft", "on_sale", "off_sale")
CP_STATUSES = ("active", "inactive")
UNIT_NAMES = ("unit", "minute")

content_providers = Table(
    "content_providers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("contact", String(500), nullable=False, default=""),
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "name", name="name_unique"),
    CheckConstraint(f"status IN {CP_STATUSES!r}", name="status"),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("parent_id", Id, ForeignKey("categories.id"), nullable=True),
    Column("position", Integer, nullable=False),
    Column("visible", Boolean, nullable=False),
    Column("name_ko", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("position >= 0", name="position_not_negative"),
)
Index(
    "ix_categories_siblings", categories.c.service_id, categories.c.parent_id, categories.c.position
)

products = Table(
    "products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("sku", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("cp_id", Id, ForeignKey("content_providers.id"), nullable=False),
    Column("name_ko", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("description_ko", Text, nullable=False, default=""),
    Column("description_en", Text, nullable=False, default=""),
    # The list price of one, in the service currency's minor units.
    Column("price", BigInteger, nullable=False),
    Column("sale_starts_at", UTCDateTime, nullable=True),
    Column("sale_ends_at", UTCDateTime, nullable=True),
    # At most limit_count bought per member in any limit_days days (both NULL: no limit).
    Column("limit_count", Integer, nullable=True),
    Column("limit_days", Integer, nullable=True),
    # How long after a purchase it may be cancelled (0: never).
    Column("cancel_window_seconds", Integer, nullable=False),
    Column("consumable", Boolean, nullable=True),
    Column("pass_days", Integer, nullable=True),
    Column("units", BigInteger, nullable=True),
    Column("unit_name", String(10), nullable=True),
    Column("unit_price", BigInteger, nullable=True),
    Column("min_balance", BigInteger, nullable=True),
    Column("minutes", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "sku", name="sku_unique"),
    CheckConstraint(f"kind IN {PRODUCT_KINDS!r}", name="kind"),
    CheckConstraint(f"status IN {PRODUCT_STATUSES!r}", name="status"),
    CheckConstraint("price >= 0", name="price_not_negative"),
    CheckConstraint("cancel_window_seconds >= 0", name="cancel_window_not_negative"),
    CheckConstraint("(limit_count IS NULL) = (limit_days IS NULL)", name="limit_complete"),
    CheckConstraint(
        "limit_count IS NULL OR (limit_count > 0 AND limit_days > 0)", name="limit_positive"
    ),
    CheckConstraint(
        "sale_starts_at IS NULL OR sale_ends_at IS NULL OR sale_starts_at < sale_ends_at",
        name="sale_window_ordered",
    ),
    CheckConstraint("unit_name IS NULL OR unit_name IN ('unit', 'minute')", name="unit_name"),
    CheckConstraint("(kind = 'item') = (consumable IS NOT NULL)", name="consumable_only_for_items"),
    CheckConstraint(
        "(kind IN ('period_pass', 'mixed')) = (pass_days IS NOT NULL AND pass_days > 0)",
        name="pass_days_for_passes",
    ),
    CheckConstraint(
        "(kind IN ('quantity_pass', 'mixed')) = (units IS NOT NULL AND units > 0)",
        name="units_for_quantities",
    ),
    CheckConstraint(
        "(kind IN ('metered', 'mixed')) = (unit_price IS NOT NULL AND unit_price > 0)",
        name="unit_price_for_metered",
    ),
    CheckConstraint(
        "(kind IN ('quantity_pass', 'metered', 'mixed')) = (unit_name IS NOT NULL)",
        name="unit_name_for_units",
    ),
    CheckConstraint("(kind = 'metered') = (min_balance IS NOT NULL)", name="min_balance_metered"),
    CheckConstraint(
        "(kind = 'time_coupon') = (minutes IS NOT NULL AND minutes > 0)",
        name="minutes_for_time_coupons",
    ),
    CheckConstraint("kind = 'metered' OR price > 0", name="priced_unless_metered"),
)

product_categories = Table(
    "product_categories",
    metadata,
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("category_id", Id, ForeignKey("categories.id"), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("product_id", "category_id"),
)
Index("ix_product_categories_category", product_categories.c.category_id)

package_components = Table(
    "package_components",
    metadata,
    Column("package_id", Id, ForeignKey("products.id"), nullable=False),
    Column("component_id", Id, ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("package_id", "component_id"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("package_id <> component_id", name="not_itself"),
)

#: The rate card of time coupons: how much cash buys one minute of play time.
time_rates = Table(
    "time_rates",
    metadata,
    Column("service_id", Id, ForeignKey("services.id"), primary_key=True),
    Column("cash_per_minute", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("cash_per_minute > 0", name="rate_positive"),
)
