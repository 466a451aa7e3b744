"""Cash-web sessions: a signed link opens one, a cookie carries its token, logout ends it.

Only the SHA-256 of the token is stored (a database leak gives no usable cookie). A session
ends 30 minutes after it was last seen or 12 hours after it opened, whichever comes first, and
as soon as its member is no longer active. ``last_seen_at`` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from coffer.kernel.errors import Forbidden, NotFound
from coffer.kernel.ids import uuid7
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import parse_link, verify_link
from coffer.tenancy.model import Member, Service
from coffer.tenancy.tables import cash_sessions

IDLE_TIMEOUT = timedelta(minutes=30)
MAX_AGE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)

#: Member statuses that may see the cash web. Suspended and closed members are refused.
MAY_VIEW = frozenset({"active"})


@dataclass(frozen=True, slots=True)
class CashSession:
    id: UUID
    service: Service
    member: Member
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime

    def needs_touch(self, now: datetime) -> bool:
        return self.last_seen_at < now - TOUCH_EVERY


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session and the token for its cookie (the only time the token exists in clear)."""

    session: CashSession
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_member(member: Member) -> None:
    if member.status not in MAY_VIEW:
        raise Forbidden(f"member_{member.status}", f"The member is {member.status}.")


def open_from_link(
    conn: Connection, params: dict[str, str], *, now: datetime, replaces: str | None = None
) -> OpenedSession:
    """Verify a signed link and open a session for its member.

    Raises ``link_malformed`` (422), ``link_unknown_service``, ``link_signature_invalid``,
    ``link_expired``, ``link_not_yet_valid``, ``member_suspended``, ``member_closed`` (403)
    or ``member_not_found`` (404), and then writes nothing. ``replaces``: the token of a
    session the browser already had, ended in the same transaction.
    """
    claim = parse_link(params)
    try:
        secret = tenancy.link_secret(conn, claim.service_id)
    except NotFound as error:
        raise Forbidden("link_unknown_service", "The link names no known service.") from error
    verify_link(claim, secret, now)
    service = tenancy.get_service(conn, claim.service_id)
    member = tenancy.get_member(conn, service.id, claim.member)
    _check_member(member)
    purge_ended(conn, now)
    if replaces:
        close(conn, replaces)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session_id = uuid7()
    expires_at = now + MAX_AGE
    conn.execute(
        insert(cash_sessions).values(
            id=session_id,
            token_hash=_hash(token),
            service_id=service.id,
            member_id=member.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    return OpenedSession(CashSession(session_id, service, member, csrf, expires_at, now), token)


def find(conn: Connection, token: str, *, now: datetime) -> CashSession | None:
    """The live session of a cookie's token, or None (unknown, ended, or member not active)."""
    row = conn.execute(
        select(cash_sessions).where(cash_sessions.c.token_hash == _hash(token))
    ).first()
    if row is None or row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now:
        return None
    member = tenancy.get_member_by_id(conn, row.service_id, row.member_id)
    if member.status not in MAY_VIEW:
        return None
    service = tenancy.get_service(conn, row.service_id)
    return CashSession(row.id, service, member, row.csrf_token, row.expires_at, row.last_seen_at)


def touch(conn: Connection, session_id: UUID, *, now: datetime) -> None:
    """Record activity (at most once a minute), which moves the idle timeout on."""
    conn.execute(
        update(cash_sessions)
        .where(cash_sessions.c.id == session_id, cash_sessions.c.last_seen_at < now - TOUCH_EVERY)
        .values(last_seen_at=now)
    )


def close(conn: Connection, token: str) -> None:
    conn.execute(delete(cash_sessions).where(cash_sessions.c.token_hash == _hash(token)))


def purge_ended(conn: Connection, now: datetime) -> int:
    """Drop the rows of sessions that have ended (on every new session, and hourly by a job)."""
    result = conn.execute(
        delete(cash_sessions).where(
            or_(
                cash_sessions.c.expires_at <= now,
                cash_sessions.c.last_seen_at <= now - IDLE_TIMEOUT,
            )
        )
    )
    return int(result.rowcount)
