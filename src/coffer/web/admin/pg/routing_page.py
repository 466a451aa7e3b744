"""The routing order of each payment method: which PG contract a charge tries first.

Each method lists the contracts that offer it, in the order charges try them, with their state
(a disabled contract or an open breaker is skipped). "Up" and "Down" store the whole new order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.payments import health, routing
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.health import BreakerState
from coffer.payments.routing import RouteEntry
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.desk.common import (
    done,
    form_values,
    parse_id,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, choice, text
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.pg import actions
from coffer.web.admin.pg.common import (
    PgManage,
    PgView,
    explain,
    method_or_404,
    not_found_page,
    pg_page,
    service_url,
)

router = APIRouter()

DIRECTIONS = ("up", "down")


@dataclass(frozen=True, slots=True)
class RoutingView:
    service: Service
    orders: dict[str, list[RouteEntry]]
    breakers: dict[Any, BreakerState]


def routing_url(service_id: object) -> str:
    return f"{service_url(service_id)}/routing"


async def show_routing(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = runtime(request).clock.now()

    def load(conn: Connection) -> RoutingView:
        service = service_or_404(conn, service_id)
        orders: dict[str, list[RouteEntry]] = {
            m: routing.route_entries(conn, service.id, m) for m in PAYMENT_METHODS
        }
        ids = {entry.contract.id for entries in orders.values() for entry in entries}
        breakers = {cid: health.breaker_state(conn, cid, now) for cid in ids}
        return RoutingView(service, orders, breakers)

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    context: dict[str, Any] = {"view": view, "tab": "routing"}
    if flashes is not None:
        context["flashes"] = flashes
    return pg_page(request, ctx, "admin/pg/routing.html", context, status_code)


@router.get("/pg/{service_id}/routing")
async def routing_page(request: Request, ctx: PgView, service_id: str) -> HTMLResponse:
    return await show_routing(request, ctx, service_id)


def moved(order: list[Any], item: Any, direction: str) -> list[Any]:
    """``order`` with ``item`` one place up or down (unchanged at either end)."""
    index = order.index(item)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(order):
        return order
    result = list(order)
    result[index], result[other] = result[other], result[index]
    return result


@router.post("/pg/{service_id}/routing/{method}")
async def move(request: Request, ctx: PgManage, service_id: str, method: str) -> Response:
    """Move one contract up or down in the method's order."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> bool:
        service = service_or_404(conn, service_id)
        chosen = method_or_404(method)
        direction = choice(text(values, "direction"), DIRECTIONS, _, name="direction")
        order = [e.contract.id for e in routing.route_entries(conn, service.id, chosen)]
        contract_id = parse_id(text(values, "contract_id"))
        if contract_id not in order:
            raise FormError("contract_id", _("This contract does not offer the method."))
        new_order = moved(order, contract_id, direction)
        if new_order == order:
            return False
        actions.set_routes(conn, service.id, chosen, new_order, who=Operator.of(ctx), now=now)
        return True

    try:
        changed = await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except (FormError, CofferError) as error:
        message = error.message if isinstance(error, FormError) else explain(error, _)
        status = 422 if isinstance(error, FormError) else error.status
        return await show_routing(
            request,
            ctx,
            service_id,
            flashes=[{"kind": "error", "text": message}],
            status_code=status,
        )
    return done(
        routing_url(service_id), _("Routing order saved.") if changed else _("Nothing changed.")
    )
