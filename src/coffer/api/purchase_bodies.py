"""Request and response bodies of quotes, purchases, their cancellation and rate-card time."""

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
from coffer.kernel.money import MAX_AMOUNT
from coffer.kernel.text import is_storable_text
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

API_ERROR_CODES.update(
    {
        "invalid_product",
        "invalid_quantity",
        "invalid_lines",
        "invalid_coupon_code",
        "invalid_expected_total",
    }
)

#: The longest coupon text taken (codes are at most 40 characters with their hyphens).
COUPON_MAX = 64


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


def _coupon(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= COUPON_MAX
        or not is_storable_text(value)
    ):
        raise PydanticCustomError("invalid_coupon_code", "coupon must be a coupon code.")
    return value


def _expected_total(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise PydanticCustomError(
            "invalid_expected_total",
            f"expected_total must be a whole number from 0 to {MAX_AMOUNT}.",
        )
    return value


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
CouponText = Annotated[
    str,
    PlainValidator(_coupon),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": COUPON_MAX,
            "description": "A discount coupon's code as the member typed it (case and hyphens "
            "do not matter).",
        }
    ),
]
ExpectedTotal = Annotated[
    int,
    PlainValidator(_expected_total),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT}),
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
    coupon: CouponText | None = Field(
        default=None, description="A discount coupon to apply; it is used up by the purchase."
    )
    expected_total: ExpectedTotal | None = Field(
        default=None,
        description="Buy only at this total (e.g. the quote's): another is 409 `price_changed`.",
    )


class QuoteCreate(Strict):
    member: ExternalId = Field(description="The buyer's external id.")
    lines: Annotated[list[LineIn], AfterValidator(_line_count)] = Field(
        description=f"1 to {MAX_LINES} lines, as a purchase takes them."
    )
    coupon: CouponText | None = Field(default=None, description="A discount coupon to apply.")


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
    unit_price: int = Field(description="The list price of one unit.")
    discount: int = Field(description="What discount policies and a coupon took off the line.")
    amount: int = Field(description="What was paid: unit_price x quantity - discount.")
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


# --- quotes ---------------------------------------------------------------------------------


class EffectOut(BaseModel):
    kind: str = Field(description="percent_off, amount_off, fixed_price or buy_n_get_m.")
    value: int | None = Field(
        default=None, description="Basis points (percent_off), or cash per unit."
    )
    buy: int | None = Field(default=None, description="buy_n_get_m: units bought ...")
    get: int | None = Field(default=None, description="... and units free of every buy + get.")


class AppliedOut(BaseModel):
    kind: str = Field(description="`policy` or `coupon`.")
    id: UUID = Field(description="The policy's id, or the coupon campaign's.")
    version: int = Field(description="The rule's version (a coupon's is 1).")
    name: str
    amount: int = Field(description="What it took off (0 for a rule that did not apply).")
    reason: str = Field(description="Why, in a few English words.")
    effect: EffectOut | None = Field(
        description="The effect that took the amount off (none for a rule that did not apply)."
    )
    capped: bool = Field(description="The rule's budget cut the amount short.")


class QuoteLineOut(BaseModel):
    product_id: UUID
    sku: str
    quantity: int
    unit_price: int = Field(description="The list price of one unit.")
    list_amount: int
    discount: int
    amount: int = Field(description="list_amount - discount.")
    applied: list[AppliedOut] = Field(description="Each rule's part in the discount, in order.")


class CashOut(BaseModel):
    bonus: int = Field(description="Bonus cash the total would draw now.")
    paid: int = Field(description="Paid cash the total would draw now.")
    short: int = Field(description="What the wallet lacks (0: it can pay).")


class QuoteOut(BaseModel):
    member: str
    currency: str
    lines: list[QuoteLineOut]
    list_total: int
    discount: int = Field(description="Everything taken off, the coupon's part included.")
    coupon_discount: int
    total: int = Field(description="What the purchase would cost: list_total - discount.")
    skipped: list[AppliedOut] = Field(description="Live rules that took nothing off, and why.")
    cash: CashOut | None
