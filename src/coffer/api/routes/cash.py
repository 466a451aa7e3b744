"""Moving cash: grants, spends and spend reversals. Each takes an ``Idempotency-Key``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.fields import member_key, object_id
from coffer.api.idempotency import IdempotentDep
from coffer.api.requests import GrantCreate, ReversalCreate, SpendCreate
from coffer.api.responses import BalanceOut, DrawOut, GrantOut, ReversalOut, SpendOut
from coffer.kernel.errors import Conflict
from coffer.ledger import queries, store
from coffer.ledger import service as ledger

router = APIRouter(tags=["cash"])


@router.post("/members/{external_id}/grants", status_code=201, response_model=GrantOut)
def grant(external_id: str, body: GrantCreate, call: IdempotentDep) -> JSONResponse:
    """Credit paid or bonus cash as a new lot (suspended members may still receive)."""
    key = member_key(external_id)

    def work(conn: Connection) -> GrantOut:
        member, wallet = app.member_wallet(conn, call.caller.service, key, spending=False)
        result = ledger.grant(
            conn,
            wallet,
            amount=body.amount,
            kind=body.cash_kind,
            source=body.source,
            actor=call.caller.actor,
            now=call.now,
            reason=body.reason,
            expires_at=body.expires_at,
            external_id=member.external_id,
        )
        return GrantOut(
            id=result.journal_id,
            lot_id=result.lot_id,
            amount=result.amount,
            cash_kind=result.kind,
            balance=BalanceOut.of(queries.balance(conn, member.id, call.now)),
        )

    return call.run(work)


@router.post("/members/{external_id}/spends", status_code=201, response_model=SpendOut)
def spend(external_id: str, body: SpendCreate, call: IdempotentDep) -> JSONResponse:
    """Spend cash in the service's consumption order.

    422 `insufficient_funds` (details: requested, available); 409 `member_suspended`.
    """
    key = member_key(external_id)

    def work(conn: Connection) -> SpendOut:
        member, wallet = app.member_wallet(conn, call.caller.service, key, spending=True)
        result = ledger.spend(
            conn,
            wallet,
            amount=body.amount,
            reference=body.reference,
            memo=body.memo,
            actor=call.caller.actor,
            now=call.now,
            external_id=member.external_id,
        )
        return SpendOut(
            id=result.journal_id,
            amount=result.amount,
            draws=[DrawOut.of(draw) for draw in result.draws],
            balance=BalanceOut.of(queries.balance(conn, member.id, call.now)),
        )

    return call.run(work)


@router.post("/spends/{spend_id}/reverse", status_code=201, response_model=ReversalOut)
def reverse_spend(spend_id: str, body: ReversalCreate, call: IdempotentDep) -> JSONResponse:
    """Put a spend's cash back into the lots it came from.

    409 `already_reversed`; 409 `not_reversible` for a journal that is not a spend.
    """
    journal_id = object_id(spend_id, "journal_not_found", "No such transaction in this service.")
    service = call.caller.service

    def work(conn: Connection) -> ReversalOut:
        original = store.find_journal(conn, service.id, journal_id)
        member_id = original["member_id"]
        if original["kind"] != "spend" or not isinstance(member_id, UUID):
            raise Conflict("not_reversible", "Only a spend can be reversed.")
        member, wallet = app.member_wallet_by_id(conn, service, member_id, spending=False)
        result = ledger.reverse_spend(
            conn,
            wallet,
            journal_id,
            actor=call.caller.actor,
            now=call.now,
            reason=body.reason,
            external_id=member.external_id,
        )
        return ReversalOut(
            id=result.journal_id,
            reverses=journal_id,
            amount=result.amount,
            draws=[DrawOut.of(draw) for draw in result.draws],
            balance=BalanceOut.of(queries.balance(conn, member.id, call.now)),
        )

    return call.run(work)
