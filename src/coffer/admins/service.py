"""Admin accounts and sessions: the use cases, each given the caller's connection.

Audit rows for these actions are written by the callers (the admin web, the CLI), in the same
transaction: ``coffer.audit`` is a sibling package, not a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from coffer.admins.model import (
    SESSION_ABSOLUTE,
    SESSION_IDLE,
    AdminSession,
    AdminUser,
    NewSession,
    after_failure,
    is_locked,
    new_token,
    normalize_email,
    session_end,
    token_hash,
    validate_password,
    validate_role,
)
from coffer.admins.passwords import hash_password, needs_rehash, verify_password
from coffer.admins.tables import admin_sessions, admin_users
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7

#: A session's ``last_seen_at`` is written at most this often (not on every request).
TOUCH_EVERY_SECONDS = 60


def _admin(row: RowMapping) -> AdminUser:
    return AdminUser(**{name: row[name] for name in AdminUser.__slots__})


def create_admin(
    conn: Connection, *, email: str, role: str, password: str, now: datetime
) -> AdminUser:
    admin_id = uuid7()
    values = {
        "id": admin_id,
        "email": normalize_email(email),
        "role": validate_role(role),
        "password_hash": hash_password(validate_password(password)),
        "status": "active",
        "failed_attempts": 0,
        "created_at": now,
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(admin_users).values(**values))
    except IntegrityError as error:
        raise Conflict("admin_exists", f"An admin with email {values['email']} exists.") from error
    return get_admin(conn, admin_id)


def get_admin(conn: Connection, admin_id: UUID) -> AdminUser:
    row = conn.execute(select(admin_users).where(admin_users.c.id == admin_id)).mappings().first()
    if row is None:
        raise NotFound("admin_not_found", "No such admin.")
    return _admin(row)


def find_admin_by_email(conn: Connection, email: str) -> AdminUser | None:
    try:
        normalized = normalize_email(email)
    except InvalidInput:
        return None
    row = (
        conn.execute(select(admin_users).where(admin_users.c.email == normalized))
        .mappings()
        .first()
    )
    return None if row is None else _admin(row)


def list_admins(conn: Connection) -> list[AdminUser]:
    rows = conn.execute(select(admin_users).order_by(admin_users.c.email)).mappings()
    return [_admin(row) for row in rows]


def set_status(conn: Connection, email: str, status: str, *, now: datetime) -> AdminUser:
    """Disable or re-enable an admin; disabling also ends every session of the admin."""
    if status not in ("active", "disabled"):
        raise InvalidInput("invalid_status", "status must be active or disabled.")
    admin = find_admin_by_email(conn, email)
    if admin is None:
        raise NotFound("admin_not_found", "No such admin.")
    conn.execute(update(admin_users).where(admin_users.c.id == admin.id).values(status=status))
    if status == "disabled":
        conn.execute(
            update(admin_sessions)
            .where(admin_sessions.c.admin_id == admin.id, admin_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return get_admin(conn, admin.id)


# --- signing in -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """How a sign-in went.

    ``result`` is what the person may be told: ``ok``, ``wrong`` or ``locked``. ``cause`` is for
    the audit log: ``ok``, ``unknown_email``, ``wrong_password``, ``disabled`` or ``locked``
    (the account was locked before this attempt). ``admin`` is the account after the attempt,
    set whenever the email has one; the page must not differ on it.
    """

    result: str
    cause: str
    email: str
    admin: AdminUser | None


def attempt_login(conn: Connection, *, email: str, password: str, now: datetime) -> LoginOutcome:
    """Check a sign-in and update the account's failure count and lock.

    Every path verifies a password hash (a dummy one for unknown emails), so timing does not
    tell whether an account exists. Commit the transaction whatever the result.
    """
    given = email.strip().lower()[:254] if isinstance(email, str) else ""
    admin = find_admin_by_email(conn, given)
    if admin is None:
        verify_password(password, None)
        return LoginOutcome("wrong", "unknown_email", given, None)
    stored = conn.execute(
        select(admin_users.c.password_hash).where(admin_users.c.id == admin.id).with_for_update()
    ).scalar_one()
    matches = verify_password(password, stored)
    if is_locked(admin.locked_until, now):
        return LoginOutcome("locked", "locked", admin.email, admin)
    if not matches or admin.status != "active":
        attempts, locked_until = after_failure(admin.failed_attempts, now)
        conn.execute(
            update(admin_users)
            .where(admin_users.c.id == admin.id)
            .values(failed_attempts=attempts, locked_until=locked_until)
        )
        result = "locked" if locked_until is not None else "wrong"
        cause = "wrong_password" if admin.status == "active" else "disabled"
        return LoginOutcome(result, cause, admin.email, get_admin(conn, admin.id))
    changes: dict[str, object] = {"failed_attempts": 0, "locked_until": None, "last_login_at": now}
    if needs_rehash(stored):
        changes["password_hash"] = hash_password(password)
    conn.execute(update(admin_users).where(admin_users.c.id == admin.id).values(**changes))
    return LoginOutcome("ok", "ok", admin.email, get_admin(conn, admin.id))


def set_password(conn: Connection, email: str, password: str) -> AdminUser:
    admin = find_admin_by_email(conn, email)
    if admin is None:
        raise NotFound("admin_not_found", "No such admin.")
    conn.execute(
        update(admin_users)
        .where(admin_users.c.id == admin.id)
        .values(password_hash=hash_password(validate_password(password)))
    )
    return admin


# --- sessions ---------------------------------------------------------------------------------


def open_session(
    conn: Connection, admin_id: UUID, *, now: datetime, address: str, user_agent: str
) -> NewSession:
    token, csrf = new_token(), new_token()
    session_id = uuid7()
    expires_at = now + SESSION_ABSOLUTE
    conn.execute(
        insert(admin_sessions).values(
            id=session_id,
            token_hash=token_hash(token),
            admin_id=admin_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            address=address[:64],
            user_agent=user_agent[:300],
        )
    )
    return NewSession(session_id, token, csrf, expires_at)


def find_session(conn: Connection, token: str, *, now: datetime) -> AdminSession | None:
    """The live session of a cookie token with its active admin, or None. Writes nothing."""
    if not token or len(token) > 100:
        return None
    row = (
        conn.execute(
            select(admin_sessions, admin_users)
            .join(admin_users, admin_users.c.id == admin_sessions.c.admin_id)
            .where(admin_sessions.c.token_hash == token_hash(token))
        )
        .mappings()
        .first()
    )
    if row is None or row["revoked_at"] is not None or row["status"] != "active":
        return None
    created_at = row[admin_sessions.c.created_at]
    if now >= min(row["expires_at"], session_end(created_at, row["last_seen_at"])):
        return None
    admin = AdminUser(**{name: row[admin_users.c[name]] for name in AdminUser.__slots__})
    return AdminSession(
        id=row[admin_sessions.c.id],
        admin=admin,
        csrf_token=row["csrf_token"],
        created_at=created_at,
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
    )


def needs_touch(session: AdminSession, now: datetime) -> bool:
    return (now - session.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS


def touch_session(conn: Connection, session_id: UUID, *, now: datetime) -> None:
    """Record activity, which pushes the idle expiry back (never past the absolute one)."""
    conn.execute(
        update(admin_sessions)
        .where(admin_sessions.c.id == session_id, admin_sessions.c.revoked_at.is_(None))
        .values(last_seen_at=now)
    )


def revoke_session(conn: Connection, session_id: UUID, *, now: datetime) -> bool:
    """End a session; False when it had already ended."""
    done = conn.execute(
        update(admin_sessions)
        .where(admin_sessions.c.id == session_id, admin_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(admin_sessions.c.id)
    ).first()
    return done is not None


def purge_ended_sessions(conn: Connection, now: datetime) -> int:
    """Delete sessions that have ended: revoked, past their absolute end, or idle too long."""
    result = conn.execute(
        delete(admin_sessions).where(
            or_(
                admin_sessions.c.revoked_at.isnot(None),
                admin_sessions.c.expires_at <= now,
                admin_sessions.c.last_seen_at <= now - SESSION_IDLE,
            )
        )
    )
    return int(result.rowcount)
