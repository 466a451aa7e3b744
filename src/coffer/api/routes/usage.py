"""Usage sessions (play time, quantity, mixed and metered use) and members' entitlements.

Reports and stops may charge cash (metered and mixed products) and consuming an item cannot be
repeated safely, so those POSTs take an ``Idempotency-Key``. Opening a session moves nothing: a
retried start opens a second session, which the stale-session job closes. The rules (deduction
order, rounding, the stale rule, webhooks) are in ``docs/usage.md``.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.fields import member_key, object_id
from coffer.api.idempotency import Idempotent, IdempotentDep
from coffer.api.usage_bodies import (
    EntitlementOut,
    EntitlementsOut,
    ItemConsume,
    ReportOut,
    SessionCreate,
    SessionOut,
    SessionStop,
    UsageReport,
)
from coffer.catalog.model import Product
from coffer.catalog.products import get_product, product_by_sku
from coffer.entitlements import usage
from coffer.entitlements.grants import member_entitlements
from coffer.entitlements.items import consume_item
from coffer.kernel.errors import NotFound
from coffer.tenancy import service as tenancy

router = APIRouter(tags=["usage"])

_NO_SESSION = "No such session in this service."


def _product(conn: Connection, service_id: UUID, ref: str) -> Product:
    """A product by id, else by sku (``product_not_found``)."""
    try:
        return get_product(conn, service_id, UUID(ref))
    except (ValueError, NotFound):
        return product_by_sku(conn, service_id, ref)


@router.post("/sessions", status_code=201, response_model=ReportOut)
def start_session(body: SessionCreate, caller: CallerDep, runtime: RuntimeDep) -> ReportOut:
    """Open a session for play time (no `product`) or a quantity, mixed or metered product.

    404 `member_not_found`, `product_not_found`; 409 `member_suspended`, `member_closed`;
    422 `no_entitlement`, `insufficient_balance_to_start`, `product_not_usable`,
    `product_not_on_sale`.
    """
    now = runtime.clock.now()

    def work(conn: Connection) -> ReportOut:
        _member, wallet = app.member_wallet(conn, caller.service, body.member, spending=True)
        product = _product(conn, caller.service.id, body.product) if body.product else None
        report = usage.start_session(
            conn, wallet, product=product, reference=body.reference, now=now
        )
        return ReportOut.of(report)

    return runtime.db.write(work)


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(session_id: str, caller: CallerDep, runtime: RuntimeDep) -> SessionOut:
    sid = object_id(session_id, "session_not_found", _NO_SESSION)
    return SessionOut.of(
        runtime.db.read(lambda conn: usage.get_session(conn, caller.service.id, sid))
    )


def _report(call: Idempotent, session_id: str, used: int, *, stopping: bool) -> JSONResponse:
    sid = object_id(session_id, "session_not_found", _NO_SESSION)
    service = call.caller.service

    def work(conn: Connection) -> ReportOut:
        session = usage.get_session(conn, service.id, sid)
        member, wallet = app.member_wallet_by_id(conn, service, session.member_id, spending=True)
        report = (usage.stop if stopping else usage.heartbeat)(
            conn, wallet, sid, used=used, actor=call.caller.actor, now=call.now,
            external_id=member.external_id,
        )  # fmt: skip
        return ReportOut.of(report)

    return call.run(work, status=200)


@router.post("/sessions/{session_id}/heartbeat", response_model=ReportOut)
def heartbeat(session_id: str, body: UsageReport, call: IdempotentDep) -> JSONResponse:
    """Report the units (minutes) used since the previous report; they are paid at once.

    `exhausted: true` means nothing is left: the session has ended (an `entitlement.exhausted`
    webhook is queued) and the use must stop. 409 `session_closed`, `session_exhausted`
    (also for a session without a report for 5 minutes: it was closed at its last report).
    """
    return _report(call, session_id, body.used, stopping=False)


@router.post("/sessions/{session_id}/stop", response_model=ReportOut)
def stop_session(
    session_id: str, call: IdempotentDep, body: SessionStop | None = None
) -> JSONResponse:
    """The last report (`used`, default 0), then close the session. The body may be empty."""
    return _report(call, session_id, body.used if body else 0, stopping=True)


@router.get("/members/{external_id}/entitlements", response_model=EntitlementsOut)
def list_entitlements(external_id: str, caller: CallerDep, runtime: RuntimeDep) -> EntitlementsOut:
    """Items, current and future passes (with end times), units per quantity product and the
    play-time balance in minutes."""
    key = member_key(external_id)
    now = runtime.clock.now()

    def read(conn: Connection) -> EntitlementsOut:
        member = tenancy.get_member(conn, caller.service.id, key)
        view = member_entitlements(conn, member.id, now)
        wanted = {e.product_id for e in [*view.items, *view.passes] if e.product_id is not None} | {
            q.product_id for q in view.quantities if q.product_id is not None
        }
        products = {pid: get_product(conn, caller.service.id, pid) for pid in wanted}
        return EntitlementsOut.of(view, products)

    return runtime.db.read(read)


@router.post("/members/{external_id}/items/{entitlement_id}/consume", response_model=EntitlementOut)
def consume(
    external_id: str, entitlement_id: str, body: ItemConsume, call: IdempotentDep
) -> JSONResponse:
    """Use up `quantity` of a consumable item.

    404 `entitlement_not_found`; 409 `entitlement_revoked`, `member_suspended`;
    422 `not_consumable`, `insufficient_quantity`.
    """
    key = member_key(external_id)
    eid = object_id(entitlement_id, "entitlement_not_found", "No such entitlement.")
    service = call.caller.service

    def work(conn: Connection) -> EntitlementOut:
        member, _wallet = app.member_wallet(conn, service, key, spending=True)
        item = consume_item(conn, member.id, eid, body.quantity, call.now)
        product = get_product(conn, service.id, item.product_id) if item.product_id else None
        return EntitlementOut.of(item, product)

    return call.run(work, status=200)
