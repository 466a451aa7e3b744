"""Usage sessions: start, report use (heartbeats), stop; the stale-session job.

A session is play time (no product: passes, then time entitlements) or the use of a quantity,
mixed or metered product. Each report says how many whole units (minutes) were used since the
previous one; :mod:`coffer.entitlements.model` decides how it is paid, this module applies it:
entitlements drawn (guarded updates), cash spent through ``ledger.service.spend`` (reference
``usage:<session id>``), each part recorded in ``usage_draws``.

Every write on a session takes the member's wallet lock first, then the session row, so two
reports of one member (even on two sessions) never run at once and never overdraw.

When what pays for the use runs out (a report not fully paid, or nothing left to pay the next
unit) the report answers ``exhausted``, the session ends ``exhausted`` and an
``entitlement.exhausted`` webhook event is queued, all in the report's transaction. A session
without a report for :data:`STALE_AFTER` is closed at its last report by :func:`close_stale`
(the ``usage.close_stale`` job); nothing after that report is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog.model import Product, is_on_sale
from coffer.catalog.products import get_product
from coffer.db.outbox import emit_event
from coffer.db.transaction import Database
from coffer.entitlements.grants import draw, live_entitlements
from coffer.entitlements.model import (
    USE_METERED,
    USE_MIXED,
    USE_QUANTITY,
    USE_TIME,
    Entitlement,
    Session,
    UsePlan,
    can_continue,
    consumption_order,
    covered_until,
    plan_use,
    units_left,
    use_of,
)
from coffer.entitlements.tables import usage_draws, usage_sessions
from coffer.kernel.clock import Clock
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.text import is_storable_text
from coffer.ledger import queries as ledger_queries
from coffer.ledger import service as ledger
from coffer.ledger import store as ledger_store
from coffer.ledger.model import WalletRef

#: A session with no report for longer than this is closed at its last report.
STALE_AFTER = timedelta(minutes=5)
#: Most units (minutes) one report may carry.
MAX_REPORT = 1_000_000
#: The webhook event queued when a session runs out.
EXHAUSTED_EVENT = "entitlement.exhausted"
REFERENCE_MAX = 200

_SESSION_FIELDS = tuple(field.name for field in fields(Session))


@dataclass(frozen=True, slots=True)
class Report:
    """A session after a start, a report or a stop, and what the report did."""

    session: Session
    #: Units of this report that were paid (by passes, entitlements or cash).
    used: int
    #: Units of this report nothing could pay (only when ``exhausted``).
    unaccounted: int
    #: Cash charged for this report.
    cash: int
    #: Units that can still be used now (passes' unlimited time not counted).
    remaining: int
    #: Until when passes cover play time or a mixed product's use (None: no pass now).
    covered_until: datetime | None
    exhausted: bool
    journal_id: UUID | None = None

    @property
    def used_total(self) -> int:
        return self.session.used


def session_of(row: RowMapping) -> Session:
    return Session(**{name: row[name] for name in _SESSION_FIELDS})


def get_session(conn: Connection, service_id: UUID, session_id: UUID) -> Session:
    """A session of this service (``session_not_found`` otherwise)."""
    return _load(conn, service_id, session_id, lock=False)


def _load(conn: Connection, service_id: UUID, session_id: UUID, *, lock: bool) -> Session:
    query = select(usage_sessions).where(
        usage_sessions.c.id == session_id, usage_sessions.c.service_id == service_id
    )
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("session_not_found", "No such session in this service.")
    return session_of(row)


def _reference(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= REFERENCE_MAX
        or not is_storable_text(value)
    ):
        raise InvalidInput(
            "invalid_reference", f"reference must be text of 1 to {REFERENCE_MAX} characters."
        )
    return value


def _used(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPORT:
        raise InvalidInput(
            "invalid_used", f"used must be a whole number of units from 0 to {MAX_REPORT}."
        )
    return value


def _product(conn: Connection, session: Session) -> Product | None:
    if session.product_id is None:
        return None
    return get_product(conn, session.service_id, session.product_id)


def _available(conn: Connection, use: str, member_id: UUID, now: datetime) -> int:
    if use not in (USE_MIXED, USE_METERED):
        return 0
    return ledger_queries.balance(conn, member_id, now).available


@dataclass(frozen=True, slots=True)
class _State:
    remaining: int
    covered_until: datetime | None
    can_continue: bool


def _state(
    conn: Connection, use: str, member_id: UUID, product: Product | None, now: datetime,
    available: int,
) -> _State:  # fmt: skip
    owned = live_entitlements(conn, member_id, now)
    product_id = product.id if product else None
    price = product.unit_price if product else None
    passes = [e for e in owned if use == USE_TIME or e.product_id == product_id]
    return _State(
        remaining=units_left(
            use, owned, product_id=product_id, now=now, available_cash=available, unit_price=price
        ),
        covered_until=covered_until(passes, now) if use in (USE_TIME, USE_MIXED) else None,
        can_continue=can_continue(
            use, owned, product_id=product_id, now=now, available_cash=available, unit_price=price
        ),
    )


def start_session(
    conn: Connection,
    wallet: WalletRef,
    *,
    product: Product | None,
    reference: str | None,
    now: datetime,
) -> Report:
    """Open a session for play time (``product=None``) or a quantity, mixed or metered product.

    The member must be able to pay a first unit (``no_entitlement``); a metered product must be
    on sale and the member's available cash at least its ``min_balance``
    (``insufficient_balance_to_start``). The caller checks the member's status.
    """
    reference = _reference(reference)
    use = use_of(product.kind if product else None)
    if product is not None and product.service_id != wallet.service_id:
        raise NotFound("product_not_found", "No such product in this service.")
    if use == USE_METERED and product is not None and not is_on_sale(product, now):
        raise InvalidInput("product_not_on_sale", "This product is not on sale.")
    ledger_store.lock_wallet(conn, wallet.member_id)
    available = _available(conn, use, wallet.member_id, now)
    state = _state(conn, use, wallet.member_id, product, now, available)
    if use == USE_METERED:
        assert product is not None
        assert product.min_balance is not None
        if available < product.min_balance:
            raise InvalidInput(
                "insufficient_balance_to_start",
                f"Starting needs {product.min_balance} available cash; the member has {available}.",
                {"required": product.min_balance, "available": available},
            )
    elif not state.can_continue:
        raise InvalidInput(
            "no_entitlement",
            "The member has nothing left to use for this: no pass, units or minutes."
            if use != USE_MIXED
            else "The member has no current pass of this product.",
        )
    session_id = uuid7()
    conn.execute(
        usage_sessions.insert().values(
            id=session_id,
            service_id=wallet.service_id,
            member_id=wallet.member_id,
            product_id=product.id if product else None,
            unit_name=(product.unit_name if product else None) or "minute",
            status="open",
            reference=reference,
            started_at=now,
            last_heartbeat_at=now,
            closed_at=None,
            close_reason=None,
            used=0,
            cash_charged=0,
        )
    )
    return Report(
        session=_load(conn, wallet.service_id, session_id, lock=False),
        used=0,
        unaccounted=0,
        cash=0,
        remaining=state.remaining,
        covered_until=state.covered_until,
        exhausted=False,
    )


def heartbeat(
    conn: Connection,
    wallet: WalletRef,
    session_id: UUID,
    *,
    used: int,
    actor: str,
    now: datetime,
    external_id: str | None = None,
) -> Report:
    """Report ``used`` whole units (minutes) since the previous report, and pay for them."""
    return _report(conn, wallet, session_id, used, actor, now, external_id, stopping=False)


def stop(
    conn: Connection,
    wallet: WalletRef,
    session_id: UUID,
    *,
    used: int = 0,
    actor: str,
    now: datetime,
    external_id: str | None = None,
) -> Report:
    """The last report (``used`` may be 0), then close the session (``closed``, or
    ``exhausted`` if that report ran out)."""
    return _report(conn, wallet, session_id, used, actor, now, external_id, stopping=True)


def _report(
    conn: Connection,
    wallet: WalletRef,
    session_id: UUID,
    used: int,
    actor: str,
    now: datetime,
    external_id: str | None,
    *,
    stopping: bool,
) -> Report:
    used = _used(used)
    ledger_store.lock_wallet(conn, wallet.member_id)
    session = _load(conn, wallet.service_id, session_id, lock=True)
    if session.member_id != wallet.member_id:
        raise NotFound("session_not_found", "No such session for this member.")
    _check_open(session, now)
    product = _product(conn, session)
    use = use_of(product.kind if product else None)
    since = min(session.last_heartbeat_at, now)
    available = _available(conn, use, wallet.member_id, now)
    owned = live_entitlements(conn, wallet.member_id, since)
    ordered = consumption_order(use, owned, product_id=session.product_id, since=since, now=now)
    plan = plan_use(
        use, ordered, used, since=since, now=now, available_cash=available,
        unit_price=product.unit_price if product else None,
    )  # fmt: skip
    by_id = {entry.id: entry for entry in ordered}
    journal_id = _apply(conn, wallet, session, plan, by_id, actor, now, external_id)
    state = _state(conn, use, wallet.member_id, product, now, available - plan.cash)
    exhausted = plan.unaccounted > 0 or not state.can_continue
    values: dict[str, object] = {
        "used": usage_sessions.c.used + plan.accounted,
        "cash_charged": usage_sessions.c.cash_charged + plan.cash,
        "last_heartbeat_at": max(session.last_heartbeat_at, now),
    }
    if exhausted:
        values |= {"status": "exhausted", "closed_at": now, "close_reason": "exhausted"}
    elif stopping:
        values |= {"status": "closed", "closed_at": now, "close_reason": "stopped"}
    conn.execute(
        update(usage_sessions)
        .where(usage_sessions.c.id == session.id, usage_sessions.c.status == "open")
        .values(values)
    )
    after = _load(conn, wallet.service_id, session.id, lock=False)
    if exhausted:
        _emit_exhausted(conn, wallet, after, use, plan, state, now, external_id)
    return Report(
        session=after,
        used=plan.accounted,
        unaccounted=plan.unaccounted,
        cash=plan.cash,
        remaining=state.remaining,
        covered_until=state.covered_until,
        exhausted=exhausted,
        journal_id=journal_id,
    )


def _check_open(session: Session, now: datetime) -> None:
    if session.status != "open":
        raise Conflict(
            f"session_{session.status}",
            f"The session is {session.status}.",
            {"closed_at": session.closed_at.isoformat() if session.closed_at else None},
        )
    if now - session.last_heartbeat_at > STALE_AFTER:
        raise Conflict(
            "session_closed",
            "No report came for too long: the session is closed at its last report.",
            {"closed_at": session.last_heartbeat_at.isoformat()},
        )


def _apply(
    conn: Connection,
    wallet: WalletRef,
    session: Session,
    plan: UsePlan,
    by_id: dict[UUID, Entitlement],
    actor: str,
    now: datetime,
    external_id: str | None,
) -> UUID | None:
    """Draw the plan's entitlements, charge its cash, and record each part."""
    rows: list[dict[str, object]] = []
    for take in plan.takes:
        if not take.free:
            draw(conn, by_id[take.entitlement_id], take.units, now)
        rows.append({"entitlement_id": take.entitlement_id, "journal_id": None,
                     "units": take.units, "cash": 0})  # fmt: skip
    journal_id: UUID | None = None
    if plan.cash > 0:
        spent = ledger.spend(
            conn, wallet, amount=plan.cash, reference=f"usage:{session.id}", actor=actor,
            now=now, memo=f"{plan.cash_units} {session.unit_name}(s)", external_id=external_id,
        )  # fmt: skip
        journal_id = spent.journal_id
        rows.append({"entitlement_id": None, "journal_id": journal_id,
                     "units": plan.cash_units, "cash": plan.cash})  # fmt: skip
    for row in rows:
        conn.execute(usage_draws.insert().values(id=uuid7(), session_id=session.id, at=now, **row))
    return journal_id


def _emit_exhausted(
    conn: Connection,
    wallet: WalletRef,
    session: Session,
    use: str,
    plan: UsePlan,
    state: _State,
    now: datetime,
    external_id: str | None,
) -> None:
    reason = {USE_TIME: "time", USE_QUANTITY: "units", USE_METERED: "cash"}.get(use)
    if reason is None:  # mixed: the pass ended, or its units and the cash ran out
        reason = "cash" if state.covered_until is not None else "pass_ended"
    emit_event(
        conn,
        wallet.service_id,
        EXHAUSTED_EVENT,
        {
            "member_id": str(wallet.member_id),
            "external_id": external_id,
            "session_id": str(session.id),
            "product_id": str(session.product_id) if session.product_id else None,
            "reference": session.reference,
            "unit_name": session.unit_name,
            "reason": reason,
            "used_total": session.used,
            "unaccounted": plan.unaccounted,
            "cash_charged": session.cash_charged,
        },
        now=now,
    )


@dataclass(frozen=True, slots=True)
class UsageDraw:
    """One part of a report: units from an entitlement, or units paid in cash (a journal)."""

    entitlement_id: UUID | None
    journal_id: UUID | None
    units: int
    cash: int
    at: datetime


def usage_of(conn: Connection, session_id: UUID) -> list[UsageDraw]:
    """Where a session's use went, in the order it was reported."""
    rows = conn.execute(
        select(usage_draws).where(usage_draws.c.session_id == session_id).order_by(usage_draws.c.id)
    ).mappings()
    return [
        UsageDraw(row["entitlement_id"], row["journal_id"], row["units"], row["cash"], row["at"])
        for row in rows
    ]


# --- the stale-session job ------------------------------------------------------------------


def close_stale(db: Database, clock: Clock, *, limit: int = 500) -> int:
    """Close open sessions without a report for :data:`STALE_AFTER`, at their last report.

    Nothing after the last report is counted. One guarded ``UPDATE`` per batch: a report that
    got in first moved ``last_heartbeat_at`` and the row no longer matches.
    """
    now = clock.now()
    cutoff = now - STALE_AFTER

    def close(conn: Connection) -> int:
        due = list(
            conn.execute(
                select(usage_sessions.c.id)
                .where(
                    usage_sessions.c.status == "open",
                    usage_sessions.c.last_heartbeat_at < cutoff,
                )
                .order_by(usage_sessions.c.last_heartbeat_at)
                .limit(limit)
            ).scalars()
        )
        if not due:
            return 0
        done = conn.execute(
            update(usage_sessions)
            .where(
                usage_sessions.c.id.in_(due),
                usage_sessions.c.status == "open",
                usage_sessions.c.last_heartbeat_at < cutoff,
            )
            .values(
                status="closed",
                closed_at=usage_sessions.c.last_heartbeat_at,
                close_reason="stale",
            )
        )
        return int(done.rowcount)

    return db.write(close)
