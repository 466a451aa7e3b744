"""``GET /admin``: today's figures of one service and its last two weeks, from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.approvals import service as approvals
from coffer.kernel.money import currency
from coffer.ledger import reports
from coffer.ledger.model import business_date
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext, require
from coffer.web.admin.desk import widgets
from coffer.web.admin.desk.common import admin_page, pick_service, read, runtime

router = APIRouter()

#: Days the chart covers, today included.
CHART_DAYS = 14


@dataclass(frozen=True, slots=True)
class Dashboard:
    services: list[Service]
    service: Service | None
    today: reports.DayFigures | None
    days: list[reports.DayFigures]
    members_with_cash: int
    pending_approvals: int | None
    widgets: list[widgets.Shown]


# "/admin/": FastAPI refuses an empty path in an included router; "/admin" redirects here.
@router.get("/")
async def dashboard(
    request: Request,
    ctx: Annotated[AdminContext, Depends(require("dashboard.view"))],
    service: str | None = None,
) -> HTMLResponse:
    now = runtime(request).clock.now()
    show_pending = ctx.can("approvals.view")

    def load(conn: Connection) -> Dashboard:
        services = tenancy.list_services(conn)
        chosen = pick_service(services, service)
        if chosen is None:
            return Dashboard(services, None, None, [], 0, None, [])
        today = business_date(now, chosen.timezone)
        days = reports.daily_figures(conn, chosen.id, today - timedelta(days=CHART_DAYS - 1), today)
        return Dashboard(
            services,
            chosen,
            days[-1],
            days,
            reports.members_with_cash(conn, chosen.id, now),
            approvals.pending_count(conn, chosen.id) if show_pending else None,
            widgets.load_widgets(conn, chosen, now, ctx.can),
        )

    board = await read(request, load)
    return admin_page(
        request,
        ctx,
        "admin/desk/dashboard.html",
        {"board": board, "chart": _chart(board)},
    )


def _chart(board: Dashboard) -> dict[str, Any] | None:
    if board.service is None:
        return None
    return {
        "labels": [day.business_date.strftime("%m-%d") for day in board.days],
        "granted": [day.granted for day in board.days],
        "spent": [day.spent for day in board.days],
        "exponent": currency(board.service.currency).exponent,
    }
