"""Charges: buy cash through a PG, read a charge with its timeline, refund it.

Creating a charge moves no money yet: it returns a ``checkout_url`` to send the member's
browser to. The member pays on the PG's page and comes back through Coffer, which confirms the
payment and credits the cash, then sends the browser on to your ``return_url`` with
``charge_id`` and ``status``. Listen for the ``charge.approved`` webhook (or read the charge)
rather than trusting the browser.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.charge_bodies import (
    ChargeCreate,
    ChargeDetail,
    ChargeList,
    ChargeOut,
    RefundCreate,
    RefundOut,
    TimelineOut,
)
from coffer.api.context import RuntimeDep
from coffer.api.fields import ChargeStatusName, Limit, member_key, object_id
from coffer.api.idempotency import IdempotentDep
from coffer.payments import charges, refunds
from coffer.tenancy import service as tenancy

router = APIRouter(tags=["charges"])


def checkout_url(request: Request, charge: charges.Charge) -> str:
    return str(request.url_for("pg_checkout", charge_id=str(charge.id)))


def _charge_id(value: str) -> UUID:
    return object_id(value, "charge_not_found", "No such charge in this service.")


@router.post("/charges", status_code=201, response_model=ChargeOut)
def create_charge(body: ChargeCreate, call: IdempotentDep, request: Request) -> JSONResponse:
    """Open a charge order; send the member to `checkout_url`.

    409 `method_not_offered`, `no_pg_available` (every PG for the method is failing),
    `member_suspended`, `daily_charge_limit`, `monthly_charge_limit`; 422 `invalid_method`,
    `amount_below_minimum`, `amount_above_maximum`, `invalid_amount_step`, `invalid_return_url`.
    """
    key = member_key(body.member)

    def work(conn: Connection) -> ChargeOut:
        charge = app.create_charge(
            conn, call.caller.service, key, amount=body.amount, method=body.method,
            pg=body.pg, return_url=body.return_url, now=call.now,
        )  # fmt: skip
        return ChargeOut.of(charge, checkout_url(request, charge))

    return call.run(work)


@router.get("/charges/{charge_id}", response_model=ChargeDetail)
def get_charge(
    charge_id: str, caller: CallerDep, runtime: RuntimeDep, request: Request
) -> ChargeDetail:
    """A charge with its timeline (every move, what caused it, before and after) and refunds."""
    cid = _charge_id(charge_id)

    def read(conn: Connection) -> ChargeDetail:
        charge = charges.get_charge(conn, caller.service.id, cid)
        out = ChargeOut.of(charge, checkout_url(request, charge))
        return ChargeDetail(
            **out.model_dump(),
            refundable=refunds.refundable(conn, charge),
            timeline=[TimelineOut.of(e) for e in charges.timeline(conn, charge.id)],
            refunds=[RefundOut.of(r) for r in refunds.charge_refunds(conn, charge.id)],
        )

    return runtime.db.read(read)


@router.get("/charges", response_model=ChargeList)
def list_charges(
    caller: CallerDep,
    runtime: RuntimeDep,
    request: Request,
    member: Annotated[str | None, Query(description="A member's external id.")] = None,
    status: Annotated[ChargeStatusName | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> ChargeList:
    """A service's charges, newest first."""
    before = _charge_id(cursor) if cursor else None

    def read(conn: Connection) -> ChargeList:
        member_id = None
        if member is not None:
            member_id = tenancy.get_member(conn, caller.service.id, member_key(member)).id
        rows = charges.list_charges(
            conn, caller.service.id, member_id=member_id, status=status,
            before=before, limit=limit + 1,
        )  # fmt: skip
        page = rows[:limit]
        return ChargeList(
            data=[ChargeOut.of(c, checkout_url(request, c)) for c in page],
            next_cursor=str(page[-1].id) if len(rows) > limit else None,
        )

    return runtime.db.read(read)


@router.post("/charges/{charge_id}/refunds", status_code=201, response_model=RefundOut)
def refund_charge(charge_id: str, body: RefundCreate, call: IdempotentDep) -> JSONResponse:
    """Refund all or part of the charge's unspent cash; the PG cancel follows as a job.

    The cash leaves the wallet now; if the PG refuses, it comes back and the refund says why.
    409 `charge_not_refundable`, `refund_in_progress`, `refund_exceeds_unspent`.
    """
    cid = _charge_id(charge_id)
    service = call.caller.service

    def work(conn: Connection) -> RefundOut:
        refund = refunds.request_refund(
            conn, service.id, cid, amount=body.amount, reason=body.reason,
            actor=call.caller.actor, now=call.now, timezone=service.timezone,
            resolve=app.resolve_wallet,
        )  # fmt: skip
        return RefundOut.of(refund)

    return call.run(work)
