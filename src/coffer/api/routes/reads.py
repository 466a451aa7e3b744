"""Reading a member's cash: balance, lots, history; and one journal with its postings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.engine import Connection

from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.fields import Cursor, Day, JournalKind, Limit, member_key, object_id
from coffer.api.responses import (
    BalanceOut,
    HistoryEntryOut,
    HistoryPageOut,
    JournalOut,
    LotList,
    LotOut,
)
from coffer.kernel.errors import InvalidInput
from coffer.ledger import queries
from coffer.tenancy import service as tenancy

router = APIRouter(tags=["reads"])


@router.get("/members/{external_id}/balance", response_model=BalanceOut)
def balance(external_id: str, caller: CallerDep, runtime: RuntimeDep) -> BalanceOut:
    """Balances as of now; cash past its expiry is left out even before the expiry job runs."""
    key = member_key(external_id)
    now = runtime.clock.now()

    def read(conn: Connection) -> BalanceOut:
        member = tenancy.get_member(conn, caller.service.id, key)
        return BalanceOut.of(queries.balance(conn, member.id, now))

    return runtime.db.read(read)


@router.get("/members/{external_id}/lots", response_model=LotList)
def lots(
    external_id: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    include_empty: Annotated[bool, Query(description="Also list used-up lots.")] = False,
) -> LotList:
    key = member_key(external_id)
    now = runtime.clock.now()

    def read(conn: Connection) -> LotList:
        member = tenancy.get_member(conn, caller.service.id, key)
        records = queries.member_lots(conn, member.id, include_empty=include_empty)
        return LotList(data=[LotOut.of(record, now) for record in records])

    return runtime.db.read(read)


@router.get("/members/{external_id}/history", response_model=HistoryPageOut)
def history(
    external_id: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    kind: Annotated[list[JournalKind] | None, Query(description="Repeat to allow several.")] = None,
    date_from: Annotated[Day | None, Query(alias="from", description="Business date.")] = None,
    date_to: Annotated[Day | None, Query(alias="to", description="Inclusive.")] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor | None, Query(description="`next_cursor` of a page.")] = None,
) -> HistoryPageOut:
    """The member's journals, newest first, with the change to each kind of cash."""
    key = member_key(external_id)
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("invalid_date_range", "from must not be after to.")

    def read(conn: Connection) -> HistoryPageOut:
        member = tenancy.get_member(conn, caller.service.id, key)
        page = queries.history(
            conn,
            member.id,
            kinds=kind,
            date_from=date_from,
            date_to=date_to,
            before=cursor,
            limit=limit,
        )
        return HistoryPageOut(
            data=[HistoryEntryOut.of(entry) for entry in page.entries],
            next_cursor=page.next_cursor,
        )

    return runtime.db.read(read)


@router.get("/journals/{journal_id}", response_model=JournalOut)
def journal(journal_id: str, caller: CallerDep, runtime: RuntimeDep) -> JournalOut:
    """One journal with its postings (account code and amount) and lot draws."""
    jid = object_id(journal_id, "journal_not_found", "No such transaction in this service.")
    service_id = caller.service.id

    def read(conn: Connection) -> JournalOut:
        detail = queries.journal_detail(conn, service_id, jid)
        member_id = detail["member_id"]
        member = tenancy.get_member_by_id(conn, service_id, member_id) if member_id else None
        return JournalOut.of(detail, member.external_id if member else None)

    return runtime.db.read(read)
