"""Signing in and out as one transaction each: the account's counters, the session, the audit row.

Unknown emails get the same lock-out as accounts, counted from their failures in the audit log,
so the sign-in page never tells whether an email has an account. The ``reason`` of an
``admin.login_failed`` row is the outcome's cause (``unknown_email``, ``wrong_password``,
``disabled``, ``locked``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.admins import service as admins
from coffer.admins.model import LOCK_DURATION, MAX_FAILED_ATTEMPTS, NewSession
from coffer.audit import service as audit


@dataclass(frozen=True, slots=True)
class SignIn:
    """``result`` is ``ok``, ``wrong`` or ``locked``; ``session`` is set when ``ok``."""

    result: str
    session: NewSession | None = None


def sign_in(
    conn: Connection,
    *,
    email: str,
    password: str,
    now: datetime,
    address: str,
    user_agent: str,
) -> SignIn:
    outcome = admins.attempt_login(conn, email=email, password=password, now=now)
    admin = outcome.admin
    if outcome.result == "ok" and admin is not None:
        session = admins.open_session(
            conn, admin.id, now=now, address=address, user_agent=user_agent
        )
        audit.record(
            conn,
            actor=f"admin:{admin.email}",
            action="admin.login",
            target_type="admin",
            target_id=str(admin.id),
            service_id=None,
            before=None,
            after={"session_id": session.id, "user_agent": user_agent[:300]},
            reason="",
            address=address,
            now=now,
        )
        return SignIn("ok", session)
    result, reason = outcome.result, outcome.cause
    after: dict[str, object] | None = None
    if admin is None:
        target_type, target_id = "admin_email", outcome.email[:320]
        earlier = audit.count_recent(
            conn,
            action="admin.login_failed",
            target_type=target_type,
            target_id=target_id,
            since=now - LOCK_DURATION,
            reason="unknown_email",
        )
        if earlier >= MAX_FAILED_ATTEMPTS:
            reason = "locked"
        if earlier + 1 >= MAX_FAILED_ATTEMPTS:
            result = "locked"
    else:
        target_type, target_id = "admin", str(admin.id)
        after = {"failed_attempts": admin.failed_attempts, "locked_until": admin.locked_until}
    audit.record(
        conn,
        actor="anonymous",
        action="admin.login_failed",
        target_type=target_type,
        target_id=target_id,
        service_id=None,
        before=None,
        after=after,
        reason=reason,
        address=address,
        now=now,
    )
    return SignIn(result)


def sign_out(
    conn: Connection, *, session_id: UUID, admin_id: UUID, email: str, now: datetime, address: str
) -> None:
    if admins.revoke_session(conn, session_id, now=now):
        audit.record(
            conn,
            actor=f"admin:{email}",
            action="admin.logout",
            target_type="admin",
            target_id=str(admin_id),
            service_id=None,
            before={"session_id": session_id},
            after=None,
            reason="",
            address=address,
            now=now,
        )
