"""The server-to-server API (secret-key auth): confirm, query, cancel, settlements."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from sqlalchemy import RowMapping
from starlette.concurrency import run_in_threadpool

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.http_common import merchant, sandbox
from coffer.sandbox_pg.settlement import to_csv
from coffer.sandbox_pg.times import parse_date

router = APIRouter(prefix="/v1")
Merchant = Annotated[RowMapping, Depends(merchant)]
MAX_AMOUNT = 2**53


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    paymentKey: StrictStr = Field(min_length=1, max_length=64)  # noqa: N815 - protocol name
    orderId: StrictStr = Field(min_length=1, max_length=64)  # noqa: N815
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cancelReason: StrictStr = Field(min_length=1, max_length=200)  # noqa: N815
    cancelAmount: StrictInt | None = Field(default=None, gt=0, le=MAX_AMOUNT)  # noqa: N815


@router.post("/payments/confirm")
async def confirm(body: ConfirmBody, request: Request, owner: Merchant) -> dict[str, Any]:
    box = sandbox(request)
    result = await run_in_threadpool(box.confirm, owner, body.paymentKey, body.orderId, body.amount)
    if result.hang:
        # Timeout after approval: DONE is committed and the webhook queued; answer very late.
        await asyncio.sleep(box.settings.hang_seconds)
    return result.payment


@router.get("/payments/orders/{order_id}")
def by_order(order_id: str, request: Request, owner: Merchant) -> dict[str, Any]:
    return sandbox(request).payment_by_order(owner, order_id)


@router.get("/payments/{payment_key}")
def by_key(payment_key: str, request: Request, owner: Merchant) -> dict[str, Any]:
    return sandbox(request).payment(owner, payment_key)


@router.post("/payments/{payment_key}/cancel")
def cancel(payment_key: str, body: CancelBody, request: Request, owner: Merchant) -> dict[str, Any]:
    return sandbox(request).cancel(owner, payment_key, body.cancelReason, body.cancelAmount)


@router.get("/settlements")
def settlements(request: Request, owner: Merchant, date: str = "") -> list[dict[str, Any]]:
    if not date:
        raise PgError("INVALID_DATE", "date=YYYY-MM-DD is required")
    return sandbox(request).settlement(owner, parse_date(date))


@router.get("/settlements/{day}.csv", response_class=PlainTextResponse)
def settlements_csv(day: str, request: Request, owner: Merchant) -> PlainTextResponse:
    lines = sandbox(request).settlement(owner, parse_date(day))
    return PlainTextResponse(
        to_csv(lines),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="settlement-{day}.csv"'},
    )
