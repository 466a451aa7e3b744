"""Holds: reserve cash, then commit (all or part) or release it.

Reserving, committing and releasing move cash and take an ``Idempotency-Key``. Committing is
spending, so a suspended member's hold can be released (or left to expire) but not committed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import Caller, RuntimeDep
from coffer.api.fields import HoldFilter, member_key, object_id
from coffer.api.idempotency import Idempotent, IdempotentDep
from coffer.api.requests import HoldCommit, HoldCreate, HoldRelease
from coffer.api.responses import HoldList, HoldOut
from coffer.ledger import queries, store
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member

router = APIRouter(tags=["holds"])


@router.post("/members/{external_id}/holds", status_code=201, response_model=HoldOut)
def create_hold(external_id: str, body: HoldCreate, call: IdempotentDep) -> JSONResponse:
    """Reserve cash until `expires_in_seconds` (422 `insufficient_funds`)."""
    key = member_key(external_id)

    def work(conn: Connection) -> HoldOut:
        member, wallet = app.member_wallet(conn, call.caller.service, key, spending=True)
        result = ledger.reserve(
            conn,
            wallet,
            amount=body.amount,
            expires_in_seconds=body.expires_in_seconds,
            reference=body.reference,
            actor=call.caller.actor,
            now=call.now,
            external_id=member.external_id,
        )
        return HoldOut.of(result.hold)

    return call.run(work)


@router.get("/members/{external_id}/holds", response_model=HoldList)
def list_holds(
    external_id: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    status: Annotated[HoldFilter, Query(description="`active` (default) or `all`.")] = "active",
) -> HoldList:
    key = member_key(external_id)

    def read(conn: Connection) -> HoldList:
        member = tenancy.get_member(conn, caller.service.id, key)
        rows = queries.member_holds(conn, member.id, active_only=status == "active")
        return HoldList(data=[HoldOut.of(row) for row in rows])

    return runtime.db.read(read)


@router.get("/holds/{hold_id}", response_model=HoldOut)
def get_hold(hold_id: str, caller: CallerDep, runtime: RuntimeDep) -> HoldOut:
    hid = object_id(hold_id, "hold_not_found", "No such hold in this service.")
    return HoldOut.of(runtime.db.read(lambda conn: store.get_hold(conn, caller.service.id, hid)))


def _hold_wallet(
    conn: Connection, caller: Caller, hold: store.HoldRow, *, spending: bool
) -> tuple[Member, WalletRef]:
    return app.member_wallet_by_id(conn, caller.service, hold.member_id, spending=spending)


def _close(call: Idempotent, hold_id: str, commit: bool, amount: int | None) -> JSONResponse:
    hid = object_id(hold_id, "hold_not_found", "No such hold in this service.")

    def work(conn: Connection) -> HoldOut:
        hold = store.get_hold(conn, call.caller.service.id, hid)
        member, wallet = _hold_wallet(conn, call.caller, hold, spending=commit)
        actor, who = call.caller.actor, member.external_id
        if commit:
            result = ledger.commit_hold(
                conn, wallet, hid, amount=amount, actor=actor, now=call.now, external_id=who
            )
        else:
            result = ledger.release_hold(
                conn, wallet, hid, actor=actor, now=call.now, external_id=who
            )
        return HoldOut.of(result.hold)

    return call.run(work, status=200)


@router.post("/holds/{hold_id}/commit", response_model=HoldOut)
def commit_hold(hold_id: str, body: HoldCommit, call: IdempotentDep) -> JSONResponse:
    """Spend all of the hold, or `amount` of it and return the rest.

    422 `amount_exceeds_hold`; 409 `hold_committed`, `hold_released`, `hold_expired`.
    """
    return _close(call, hold_id, True, body.amount)


@router.post("/holds/{hold_id}/release", response_model=HoldOut)
def release_hold(
    hold_id: str, call: IdempotentDep, body: Annotated[HoldRelease | None, Body()] = None
) -> JSONResponse:
    """Return the held cash to the lots it came from. The body may be empty."""
    return _close(call, hold_id, False, None)
