"""Request and response bodies of usage sessions and members' entitlements."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from coffer.api.fields import API_ERROR_CODES, ExternalId, Reference, UtcTime
from coffer.api.requests import Strict
from coffer.catalog.model import Product
from coffer.entitlements.items import MAX_CONSUME
from coffer.entitlements.model import Entitlement, MemberEntitlements, QuantityBalance, Session
from coffer.entitlements.usage import MAX_REPORT, Report
from coffer.kernel.text import is_storable_text

PRODUCT_REF_MAX = 100


def _whole(code: str, field: str, low: int, high: int) -> PlainValidator:
    API_ERROR_CODES.add(code)

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PydanticCustomError(
                code, f"{field} must be a whole number from {low} to {high} (no fractions)."
            )
        return value

    return PlainValidator(check)


def _product_ref(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= PRODUCT_REF_MAX
        or not is_storable_text(value)
    ):
        raise PydanticCustomError(
            "invalid_product",
            f"product must be a product id or sku of 1 to {PRODUCT_REF_MAX} chars.",
        )
    return value


API_ERROR_CODES.add("invalid_product")

#: Whole units (or minutes) used since the previous report; 1.5 or "2" is refused, not rounded.
Used = Annotated[
    int,
    _whole("invalid_used", "used", 0, MAX_REPORT),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_REPORT}),
]
Quantity = Annotated[
    int,
    _whole("invalid_quantity", "quantity", 1, MAX_CONSUME),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_CONSUME}),
]
ProductRef = Annotated[
    str,
    PlainValidator(_product_ref),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": PRODUCT_REF_MAX}),
]


class SessionCreate(Strict):
    member: ExternalId = Field(description="The member's external id.")
    product: ProductRef | None = Field(
        default=None,
        description="A quantity_pass, mixed or metered product (id or sku); leave out for play "
        "time (passes, then time coupons).",
    )
    reference: Reference | None = Field(
        default=None, description="Your reference, e.g. the game server's session id."
    )


class UsageReport(Strict):
    used: Used = Field(description="Whole units (minutes) used since the previous report.")


class SessionStop(Strict):
    used: Used = Field(default=0, description="Units used since the previous report.")


class ItemConsume(Strict):
    quantity: Quantity


class SessionOut(BaseModel):
    id: UUID
    member_id: UUID
    product_id: UUID | None
    unit_name: str = Field(description="`minute` or `unit`.")
    status: str = Field(description="`open`, `closed` or `exhausted`.")
    reference: str | None
    started_at: UtcTime
    last_heartbeat_at: UtcTime
    closed_at: UtcTime | None
    close_reason: str | None = Field(description="`stopped`, `exhausted` or `stale`.")
    used: int
    cash_charged: int

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls.model_validate(session, from_attributes=True)


class ReportOut(BaseModel):
    session: SessionOut
    used_total: int = Field(description="Units of the whole session that were paid.")
    used: int = Field(description="Units of this report that were paid.")
    unaccounted: int = Field(description="Units of this report nothing could pay.")
    charged: int = Field(description="Cash charged for this report (metered and mixed).")
    remaining: int = Field(
        description="Units (minutes) that can still be used now, passes' unlimited time aside."
    )
    covered_until: UtcTime | None = Field(
        description="Until when passes cover the use without a break."
    )
    exhausted: bool = Field(description="Nothing is left: the session has ended; stop the use.")

    @classmethod
    def of(cls, report: Report) -> ReportOut:
        return cls(
            session=SessionOut.of(report.session),
            used_total=report.used_total,
            used=report.used,
            unaccounted=report.unaccounted,
            charged=report.cash,
            remaining=report.remaining,
            covered_until=report.covered_until,
            exhausted=report.exhausted,
        )


class ProductRefOut(BaseModel):
    id: UUID
    sku: str
    kind: str
    name_ko: str
    name_en: str

    @classmethod
    def of(cls, product: Product | None) -> ProductRefOut | None:
        if product is None:
            return None
        return cls.model_validate(product, from_attributes=True)


class EntitlementOut(BaseModel):
    id: UUID
    kind: str = Field(description="`item`, `period_pass`, `quantity_pass`, `mixed` or `time`.")
    status: str
    product: ProductRefOut | None
    granted: int | None
    remaining: int | None
    unit_name: str | None
    starts_at: UtcTime
    ends_at: UtcTime | None
    purchase_line_id: UUID | None
    created_at: UtcTime

    @classmethod
    def of(cls, entry: Entitlement, product: Product | None) -> EntitlementOut:
        return cls(
            id=entry.id,
            kind=entry.kind,
            status=entry.status,
            product=ProductRefOut.of(product),
            granted=entry.granted,
            remaining=entry.remaining,
            unit_name=entry.unit_name,
            starts_at=entry.starts_at,
            ends_at=entry.ends_at,
            purchase_line_id=entry.purchase_line_id,
            created_at=entry.created_at,
        )


class QuantityOut(BaseModel):
    product: ProductRefOut | None
    unit_name: str | None
    remaining: int

    @classmethod
    def of(cls, balance: QuantityBalance, product: Product | None) -> QuantityOut:
        return cls(
            product=ProductRefOut.of(product),
            unit_name=balance.unit_name,
            remaining=balance.remaining,
        )


class EntitlementsOut(BaseModel):
    items: list[EntitlementOut] = Field(description="Items with something left.")
    passes: list[EntitlementOut] = Field(description="Current and future passes, by start.")
    quantities: list[QuantityOut] = Field(description="Units left per quantity product.")
    time_minutes: int = Field(description="Minutes of play time (time coupons) usable now.")
    play_covered_until: UtcTime | None = Field(
        description="Until when passes cover play time without a break."
    )

    @classmethod
    def of(cls, view: MemberEntitlements, products: dict[UUID, Product]) -> EntitlementsOut:
        def product(product_id: UUID | None) -> Product | None:
            return products.get(product_id) if product_id else None

        return cls(
            items=[EntitlementOut.of(e, product(e.product_id)) for e in view.items],
            passes=[EntitlementOut.of(e, product(e.product_id)) for e in view.passes],
            quantities=[QuantityOut.of(q, product(q.product_id)) for q in view.quantities],
            time_minutes=view.time_minutes,
            play_covered_until=view.play_covered_until,
        )
