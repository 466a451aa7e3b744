"""``GET /admin/charges``: a service's charges by member, status, method and "needs attention".

Filters come from the query string (``service``, ``member`` — an external id, exact —,
``status``, ``method``, ``attention=1``) and ``before``, the cursor of the next page. A value no
charge can have matches nothing rather than being an error, as on the member search.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.kernel.errors import InvalidInput, NotFound
from coffer.payments.charge_search import ChargeFilter, ChargePage, search_charges
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.states import CHARGE_STATUSES
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service, validate_external_id
from coffer.web.admin.charges.common import SEARCH_PATH, ChargesView, charges_page
from coffer.web.admin.desk.common import parse_id, pick_service, read
from coffer.web.admin.desk.members import member_url

router = APIRouter()

SEARCH_PAGE = 50


@dataclass(frozen=True, slots=True)
class SearchParams:
    """The filters as typed (values no charge can have already dropped)."""

    member: str = ""
    status: str = ""
    method: str = ""
    attention: bool = False

    def query(self, service: Service, **extra: str) -> str:
        values = {
            "service": str(service.id),
            "member": self.member,
            "status": self.status,
            "method": self.method,
            "attention": "1" if self.attention else "",
            **extra,
        }
        return urlencode({key: value for key, value in values.items() if value})

    @property
    def any(self) -> bool:
        return bool(self.member or self.status or self.method or self.attention)


@dataclass
class SearchView:
    services: list[Service]
    service: Service | None
    page: ChargePage
    member_known: bool = True


EMPTY = ChargePage([], None)


def _member_id(conn: Connection, service: Service, external_id: str) -> UUID | None:
    try:
        return tenancy.get_member(conn, service.id, validate_external_id(external_id)).id
    except (InvalidInput, NotFound):
        return None


@router.get("/charges")
async def search(
    request: Request,
    ctx: ChargesView,
    service: str | None = None,
    member: str = "",
    status: str = "",
    method: str = "",
    attention: str = "",
    before: str = "",
) -> HTMLResponse:
    """The newest charges first, 50 a page."""
    params = SearchParams(
        member=member.strip(),
        status=status if status in CHARGE_STATUSES else "",
        method=method if method in PAYMENT_METHODS else "",
        attention=attention == "1",
    )
    cursor = parse_id(before)

    def load(conn: Connection) -> SearchView:
        services = tenancy.list_services(conn)
        chosen = pick_service(services, service)
        if chosen is None:
            return SearchView(services, None, EMPTY)
        member_id = None
        if params.member:
            member_id = _member_id(conn, chosen, params.member)
            if member_id is None:
                return SearchView(services, chosen, EMPTY, member_known=False)
        wanted = ChargeFilter(
            member_id=member_id,
            status=params.status or None,
            method=params.method or None,
            attention_only=params.attention,
        )
        page = search_charges(conn, chosen.id, wanted, before=cursor, limit=SEARCH_PAGE)
        return SearchView(services, chosen, page)

    view = await read(request, load)
    next_url = first_url = None
    if view.service is not None:
        if view.page.next_cursor is not None:
            query = params.query(view.service, before=str(view.page.next_cursor))
            next_url = f"{SEARCH_PATH}?{query}"
        if cursor is not None:
            first_url = f"{SEARCH_PATH}?{params.query(view.service)}"
    return charges_page(
        request,
        ctx,
        "admin/charges/search.html",
        {
            "view": view,
            "params": params,
            "next_url": next_url,
            "first_url": first_url,
            "member_page_url": member_url,
        },
    )
