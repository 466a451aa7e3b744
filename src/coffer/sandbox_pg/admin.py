"""The admin API (X-Sandbox-Admin-Token): merchants, deposits, faults, held webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.http_common import admin, sandbox
from coffer.sandbox_pg.webhooks import release_held

router = APIRouter(prefix="/admin", dependencies=[Depends(admin)])


class NewMerchant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=200)
    webhook_url: StrictStr | None = Field(default=None, max_length=2000)


class WebhookUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: StrictStr | None = Field(max_length=2000)


def _check_url(url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise PgError("INVALID_REQUEST", "webhook_url must be an http(s) URL")


@router.post("/merchants", status_code=201)
def create_merchant(body: NewMerchant, request: Request) -> dict[str, Any]:
    _check_url(body.webhook_url)
    return sandbox(request).create_merchant(body.name, body.webhook_url)


@router.put("/merchants/{merchant_id}/webhook")
def set_webhook(merchant_id: str, body: WebhookUrl, request: Request) -> dict[str, Any]:
    _check_url(body.webhook_url)
    return sandbox(request).set_webhook_url(merchant_id, body.webhook_url)


@router.post("/virtual-accounts/{payment_key}/deposit")
def deposit(payment_key: str, request: Request) -> dict[str, Any]:
    return sandbox(request).deposit(payment_key)


@router.get("/faults")
def get_faults(request: Request) -> dict[str, Any]:
    return sandbox(request).faults.current.as_json()


@router.put("/faults")
async def put_faults(request: Request, body: Any = Body()) -> dict[str, Any]:
    box = sandbox(request)
    before, after = box.faults.update(body)
    if before.out_of_order_webhooks and not after.out_of_order_webhooks:
        await run_in_threadpool(_release, request)
    return after.as_json()


@router.delete("/faults")
def delete_faults(request: Request) -> dict[str, Any]:
    box = sandbox(request)
    box.faults.clear()
    _release(request)
    return box.faults.current.as_json()


@router.post("/webhooks/flush")
def flush_webhooks(request: Request) -> JSONResponse:
    return JSONResponse({"released": _release(request)})


def _release(request: Request) -> int:
    with sandbox(request).store.tx() as conn:
        return release_held(conn)
