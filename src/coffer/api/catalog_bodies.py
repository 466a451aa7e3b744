"""Request and response bodies of the catalog API (``/api/v1/catalog/...``).

Each body field is checked by the catalog's own rule for it (:mod:`coffer.catalog.validation`,
:mod:`coffer.catalog.product_fields`), wrapped so that a refusal keeps the rule's code
(``invalid_price`` …) and every bad field is listed in ``details.errors``. Rules across fields
(which fields a kind uses, the sale window's order) are checked by the catalog when the request
is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from coffer.api.fields import API_ERROR_CODES, UtcTime
from coffer.api.requests import Strict
from coffer.catalog import packages, providers, time_rates
from coffer.catalog import validation as check
from coffer.catalog.categories import CategoryNode
from coffer.catalog.model import Category, ContentProvider, Product
from coffer.catalog.product_fields import (
    CANCEL_WINDOW_MAX,
    DESCRIPTION_MAX,
    FIELD_CHECKS,
    LIMIT_COUNT_MAX,
    LIMIT_DAYS_MAX,
    PASS_DAYS_MAX,
    SKU_MAX,
)
from coffer.catalog.product_fields import kind as check_kind
from coffer.catalog.product_fields import status as check_status
from coffer.catalog.tables import CP_STATUSES, PRODUCT_KINDS, PRODUCT_STATUSES, UNIT_NAMES
from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import MAX_AMOUNT

T = TypeVar("T")

#: Largest position a request may name (the catalog refuses one past the end of the siblings).
POSITION_MAX = 100_000


def _rule(code: str, rule: Callable[[object], T]) -> PlainValidator:
    """The catalog's ``rule`` as a field validator refusing with ``code``."""
    API_ERROR_CODES.add(code)

    def run(value: object) -> T:
        try:
            return rule(value)
        except InvalidInput as error:
            # The message is a template for Pydantic: braces would be read as placeholders.
            message = error.message.replace("{", "(").replace("}", ")")
            raise PydanticCustomError(error.code, message) from None

    return PlainValidator(run)


def _integer(low: int, high: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})


def _string(max_length: int, *, min_length: int = 1) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "minLength": min_length, "maxLength": max_length})


def _enum(options: tuple[str, ...]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(options)})


def _parse_id(code: str, label: str) -> Callable[[object], UUID]:
    def parse(value: object) -> UUID:
        try:
            return value if isinstance(value, UUID) else UUID(str(value))
        except ValueError:
            raise InvalidInput(code, f"{label} must be an id (a UUID).") from None

    return parse


def _parse_time(value: object) -> datetime:
    """RFC 3339 with an offset (``2026-04-01T00:00:00+09:00``); the catalog wants it aware."""
    try:
        parsed: object = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        parsed = None
    return check.moment(parsed, "invalid_sale_window", "sale time")


def _id(code: str, label: str) -> PlainValidator:
    return _rule(code, _parse_id(code, label))


_UUID = WithJsonSchema({"type": "string", "format": "uuid"})
CpId = Annotated[UUID, _id("invalid_cp_id", "cp_id"), _UUID]
CategoryId = Annotated[UUID, _id("invalid_category_id", "category id"), _UUID]
ProductId = Annotated[UUID, _id("invalid_product_id", "product id"), _UUID]

Name = Annotated[str, _rule("invalid_name", partial(check.name, label="name")), _string(200)]
Visible = Annotated[
    bool,
    _rule("invalid_visible", partial(check.flag, code="invalid_visible", label="visible")),
    WithJsonSchema({"type": "boolean"}),
]
Position = Annotated[
    int,
    _rule(
        "invalid_position",
        partial(check.integer, code="invalid_position", label="position", low=0, high=POSITION_MAX),
    ),
    _integer(0, POSITION_MAX),
]

CpName = Annotated[str, _rule("invalid_cp_name", providers.provider_name), _string(200)]
Contact = Annotated[
    str,
    _rule("invalid_contact", providers.provider_contact),
    _string(providers.CONTACT_MAX, min_length=0),
]
CpStatus = Annotated[str, _rule("invalid_cp_status", providers.provider_status), _enum(CP_STATUSES)]

Sku = Annotated[str, _rule("invalid_sku", FIELD_CHECKS["sku"]), _string(SKU_MAX)]
ProductKind = Annotated[str, _rule("invalid_product_kind", check_kind), _enum(PRODUCT_KINDS)]
ProductStatus = Annotated[
    str, _rule("invalid_product_status", check_status), _enum(PRODUCT_STATUSES)
]
Description = Annotated[
    str,
    _rule("invalid_description", FIELD_CHECKS["description_ko"]),
    _string(DESCRIPTION_MAX, min_length=0),
]
Price = Annotated[int, _rule("invalid_price", FIELD_CHECKS["price"]), _integer(0, MAX_AMOUNT)]
SaleTime = Annotated[
    datetime,
    _rule("invalid_sale_window", _parse_time),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
LimitCount = Annotated[
    int, _rule("invalid_purchase_limit", FIELD_CHECKS["limit_count"]), _integer(1, LIMIT_COUNT_MAX)
]
LimitDays = Annotated[
    int, _rule("invalid_purchase_limit", FIELD_CHECKS["limit_days"]), _integer(1, LIMIT_DAYS_MAX)
]
CancelWindow = Annotated[
    int,
    _rule("invalid_cancel_window", FIELD_CHECKS["cancel_window_seconds"]),
    _integer(0, CANCEL_WINDOW_MAX),
]
Consumable = Annotated[
    bool,
    _rule("invalid_consumable", FIELD_CHECKS["consumable"]),
    WithJsonSchema({"type": "boolean"}),
]
PassDays = Annotated[
    int, _rule("invalid_pass_days", FIELD_CHECKS["pass_days"]), _integer(1, PASS_DAYS_MAX)
]
Units = Annotated[int, _rule("invalid_units", FIELD_CHECKS["units"]), _integer(1, MAX_AMOUNT)]
UnitName = Annotated[str, _rule("invalid_unit_name", FIELD_CHECKS["unit_name"]), _enum(UNIT_NAMES)]
UnitPrice = Annotated[
    int, _rule("invalid_unit_price", FIELD_CHECKS["unit_price"]), _integer(1, MAX_AMOUNT)
]
MinBalance = Annotated[
    int, _rule("invalid_min_balance", FIELD_CHECKS["min_balance"]), _integer(0, MAX_AMOUNT)
]
Minutes = Annotated[int, _rule("invalid_minutes", FIELD_CHECKS["minutes"]), _integer(1, MAX_AMOUNT)]
Quantity = Annotated[
    int,
    _rule(
        "invalid_quantity",
        partial(
            check.integer, code="invalid_quantity", label="quantity", low=1,
            high=packages.QUANTITY_MAX,
        ),
    ),
    _integer(1, packages.QUANTITY_MAX),
]  # fmt: skip
Rate = Annotated[int, _rule("invalid_rate", time_rates.check_rate), _integer(1, MAX_AMOUNT)]


# --- requests -------------------------------------------------------------------------------


class CategoryCreate(Strict):
    name_ko: Name
    name_en: Name
    parent_id: CategoryId | None = Field(default=None, description="None: a top-level menu.")
    position: Position | None = Field(default=None, description="Default: after its siblings.")
    visible: Visible = True


class CategoryUpdate(Strict):
    name_ko: Name | None = None
    name_en: Name | None = None
    visible: Visible | None = None


class CategoryMove(Strict):
    parent_id: CategoryId | None = Field(description="The new parent; null for the top level.")
    position: Position | None = Field(
        default=None, description="Place among the new siblings (0 first); default: the end."
    )


class ProviderCreate(Strict):
    name: CpName
    contact: Contact = ""


class ProviderUpdate(Strict):
    name: CpName | None = None
    contact: Contact | None = None
    status: CpStatus | None = Field(
        default=None, description="`inactive` stops new products and sales for the CP."
    )


class ProductFieldsIn(Strict):
    """Every product field; which kind-specific ones are needed depends on ``kind``."""

    cp_id: CpId | None = None
    name_ko: Name | None = None
    name_en: Name | None = None
    description_ko: Description | None = None
    description_en: Description | None = None
    price: Price | None = Field(
        default=None, description="Per unit bought, in minor units; 0 (or absent) when metered."
    )
    sale_starts_at: SaleTime | None = None
    sale_ends_at: SaleTime | None = None
    limit_count: LimitCount | None = Field(
        default=None, description="At most this many per member in any `limit_days` days."
    )
    limit_days: LimitDays | None = None
    cancel_window_seconds: CancelWindow | None = Field(
        default=None, description="How long after a purchase it may be cancelled (0: never)."
    )
    consumable: Consumable | None = Field(default=None, description="`item` only.")
    pass_days: PassDays | None = Field(default=None, description="`period_pass`, `mixed`.")
    units: Units | None = Field(default=None, description="`quantity_pass`, `mixed`.")
    unit_name: UnitName | None = Field(
        default=None, description="`quantity_pass`, `metered`, `mixed`."
    )
    unit_price: UnitPrice | None = Field(default=None, description="`metered`, `mixed`.")
    min_balance: MinBalance | None = Field(
        default=None, description="`metered`: cash a session needs to start."
    )
    minutes: Minutes | None = Field(default=None, description="`time_coupon`.")

    def given(self) -> dict[str, Any]:
        """The fields the request sent (a sent null clears the field)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProductCreate(ProductFieldsIn):
    sku: Sku
    kind: ProductKind
    status: ProductStatus = Field(default="draft", description="`on_sale` sells it at once.")

    def given(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name != "status" and getattr(self, name) is not None
        }


class ProductUpdate(ProductFieldsIn):
    sku: Sku | None = None
    kind: ProductKind | None = Field(default=None, description="Cannot change; may be repeated.")


class ProductStatusChange(Strict):
    status: ProductStatus


class ComponentIn(Strict):
    product_id: ProductId
    quantity: Quantity = 1


class ComponentsSet(Strict):
    components: list[ComponentIn] = Field(
        description="The whole composition; replaces the previous one."
    )


class PlacementsSet(Strict):
    category_ids: list[CategoryId] = Field(
        description="Every category the product is in; it is removed from the others."
    )


class TimeRateSet(Strict):
    cash_per_minute: Rate


# --- responses ------------------------------------------------------------------------------


class ProviderOut(BaseModel):
    id: UUID
    name: str
    contact: str
    status: str
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, provider: ContentProvider) -> ProviderOut:
        return cls.model_validate(provider, from_attributes=True)


class ProviderList(BaseModel):
    data: list[ProviderOut]


class CategoryOut(BaseModel):
    id: UUID
    parent_id: UUID | None
    position: int
    visible: bool
    name_ko: str
    name_en: str
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls.model_validate(category, from_attributes=True)


class CategoryNodeOut(CategoryOut):
    children: list[CategoryNodeOut]

    @classmethod
    def of_node(cls, node: CategoryNode) -> CategoryNodeOut:
        return cls(
            **CategoryOut.of(node.category).model_dump(),
            children=[cls.of_node(child) for child in node.children],
        )


class CategoryTree(BaseModel):
    data: list[CategoryNodeOut] = Field(description="The top-level categories, in order.")


class ProductOut(BaseModel):
    id: UUID
    sku: str
    kind: str
    status: str
    cp_id: UUID
    name_ko: str
    name_en: str
    description_ko: str
    description_en: str
    price: int
    sale_starts_at: UtcTime | None
    sale_ends_at: UtcTime | None
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
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls.model_validate(product, from_attributes=True)


class ProductList(BaseModel):
    data: list[ProductOut]
    next_cursor: UUID | None = Field(default=None, description="Pass as `cursor` for more.")


class ComponentOut(BaseModel):
    product: ProductOut
    quantity: int


class ComponentList(BaseModel):
    data: list[ComponentOut] = Field(description="By component sku.")

    @classmethod
    def of(cls, pairs: list[tuple[Product, int]]) -> ComponentList:
        return cls(data=[ComponentOut(product=ProductOut.of(p), quantity=q) for p, q in pairs])


class PlacementsOut(BaseModel):
    category_ids: list[UUID]


class TimeRateOut(BaseModel):
    cash_per_minute: int | None = Field(description="Cash per minute of play time; null: none.")


class MenuNodeOut(BaseModel):
    id: UUID
    name_ko: str
    name_en: str
    products: list[ProductOut] = Field(description="On sale now, in the category's order.")
    children: list[MenuNodeOut]

    @classmethod
    def of(cls, node: CategoryNode, placed: dict[UUID, list[Product]]) -> MenuNodeOut:
        category = node.category
        return cls(
            id=category.id,
            name_ko=category.name_ko,
            name_en=category.name_en,
            products=[ProductOut.of(p) for p in placed.get(category.id, [])],
            children=[cls.of(child, placed) for child in node.children],
        )


class MenuOut(BaseModel):
    data: list[MenuNodeOut]
