"""Request and response bodies of purchases, their cancellation and rate-card time."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from coffer.api.fields import API_ERROR_CODES, Amount, ExternalId, Reason, UtcTime
from coffer.api.requests import Strict
from coffer.api.responses import BalanceOut
from coffer.entitlements.model import Entitlement
from coffer.kernel.errors import InvalidInput
from coffer.purchases.model import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    SKU_PREFIX,
    LineDraw,
    Purchase,
    PurchaseLine,
    Revenue,
    check_quantity,
    parse_product_ref,
)

API_ERROR_CODES.update({"invalid_product", "invalid_quantity", "invalid_lines"})


def _fail(error: InvalidInput) -> PydanticCustomError:
    return PydanticCustomError(error.code, error.message.replace("{", "(").replace("}", ")"))


def _product(value: object) -> str:
    try:
        parse_product_ref(value)
    except InvalidInput as error:
        raise _fail(error) from None
    assert isinstance(value, str)
    return value


def _quantity(value: object) -> int:
    try:
        return check_quantity(value)
    except InvalidInput as error:
        raise _fail(error) from None


def _line_count(lines: list[Any]) -> list[Any]:
    if not 1 <= len(lines) <= MAX_LINES:
        raise PydanticCustomError("invalid_lines", f"Send 1 to {MAX_LINES} lines.")
    return lines


def _line_id(value: object) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise PydanticCustomError(
            "invalid_lines", "lines are ids of the purchase's lines."
        ) from None


#: A product id, or ``sku:`` followed by the product's sku.
ProductRefField = Annotated[
    str,
    PlainValidator(_product),
    WithJsonSchema(
        {
            "type": "string",
            "description": f"A product id, or `{SKU_PREFIX}` followed by the sku.",
            "examples": ["sku:SWORD-1"],
        }
    ),
]
Quantity = Annotated[
    int,
    PlainValidator(_quantity),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY}),
]
LineId = Annotated[
    UUID, PlainValidator(_line_id), WithJsonSchema({"type": "string", "format": "uuid"})
]


class LineIn(Strict):
    product: ProductRefField
    quantity: Quantity = 1


class PurchaseCreate(Strict):
    member: ExternalId = Field(description="The buyer's external id.")
    lines: Annotated[list[LineIn], AfterValidator(_line_count)] = Field(
        description=f"1 to {MAX_LINES} lines; each is priced, paid and granted."
    )
    gift_to: ExternalId | None = Field(
        default=None, description="Another member of the service who receives the goods."
    )


class CancelCreate(Strict):
    lines: Annotated[list[LineId], AfterValidator(_line_count)] | None = Field(
        default=None, description="Line ids to cancel; default: every line still active."
    )
    reason: Reason


class TimeCreate(Strict):
    amount: Amount = Field(description="Cash to spend: a whole number of minutes' price.")


# --- responses ------------------------------------------------------------------------------


class DrawOut(BaseModel):
    lot_id: UUID
    cash_kind: str
    amount: int

    @classmethod
    def of(cls, draw: LineDraw) -> DrawOut:
        return cls.model_validate(draw, from_attributes=True)


class EntitlementOut(BaseModel):
    id: UUID
    kind: str = Field(description="item, period_pass, quantity_pass, mixed or time.")
    status: str = Field(description="active, exhausted or revoked.")
    product_id: UUID | None
    granted: int | None = Field(description="Items, units or minutes granted (none for a pass).")
    remaining: int | None
    unit_name: str | None
    starts_at: UtcTime
    ends_at: UtcTime | None

    @classmethod
    def of(cls, entitlement: Entitlement) -> EntitlementOut:
        return cls.model_validate(entitlement, from_attributes=True)


class LineOut(BaseModel):
    id: UUID
    kind: str = Field(description="`product`, or `time` bought by the rate card.")
    product_id: UUID | None
    quantity: int = Field(description="Units of the product, or minutes of rate-card time.")
    unit_price: int
    amount: int
    status: str = Field(description="active or cancelled.")
    journal_id: UUID | None = Field(description="The spend that paid for the line.")
    reversal_journal_id: UUID | None
    cancelled_at: UtcTime | None
    draws: list[DrawOut] = Field(description="The lots the line's cash came from.")
    entitlements: list[EntitlementOut] = Field(description="What the line granted.")

    @classmethod
    def of(cls, line: PurchaseLine, entitlements: list[Entitlement]) -> LineOut:
        return cls.model_validate(
            {
                **{name: getattr(line, name) for name in cls.model_fields if hasattr(line, name)},
                "draws": [DrawOut.of(draw) for draw in line.draws],
                "entitlements": [EntitlementOut.of(e) for e in entitlements],
            }
        )


class RevenueOut(BaseModel):
    line_id: UUID
    product_id: UUID | None
    cp_id: UUID | None = Field(description="The content provider; none for rate-card time.")
    amount: int = Field(description="Positive when sold, negative when cancelled.")
    at: UtcTime

    @classmethod
    def of(cls, revenue: Revenue) -> RevenueOut:
        return cls.model_validate(revenue, from_attributes=True)


class PurchaseOut(BaseModel):
    id: UUID
    member: str = Field(description="The buyer's external id.")
    recipient: str = Field(description="Who received the goods (the buyer unless a gift).")
    total: int
    currency: str
    status: str = Field(description="completed, partially_cancelled or cancelled.")
    quote: dict[str, Any] | None = Field(description="The price as quoted when bought.")
    lines: list[LineOut]
    revenue: list[RevenueOut] = Field(description="Each won of the sale by content provider.")
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(
        cls,
        purchase: Purchase,
        *,
        member: str,
        recipient: str,
        currency: str,
        entitlements: dict[UUID, list[Entitlement]],
    ) -> PurchaseOut:
        return cls(
            id=purchase.id,
            member=member,
            recipient=recipient,
            total=purchase.total,
            currency=currency,
            status=purchase.status,
            quote=purchase.quote,
            lines=[LineOut.of(line, entitlements.get(line.id, [])) for line in purchase.lines],
            revenue=[RevenueOut.of(r) for r in purchase.revenue],
            created_at=purchase.created_at,
            updated_at=purchase.updated_at,
        )


class PurchaseResult(PurchaseOut):
    balance: BalanceOut = Field(description="The buyer's balance afterwards.")


class PurchaseList(BaseModel):
    data: list[PurchaseOut]
    next_cursor: str | None
