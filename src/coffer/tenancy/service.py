"""Tenancy use cases: services, API keys, members. Each takes the caller's connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from coffer.kernel.errors import Conflict, InvalidInput, NotFound, Unauthorized
from coffer.kernel.ids import uuid7
from coffer.kernel.money import currency as lookup_currency
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.tenancy.links import generate_link_secret
from coffer.tenancy.model import (
    Member,
    NewApiKey,
    Service,
    generate_api_key,
    hash_api_key,
    key_matches,
    split_api_key,
    validate_external_id,
    validate_timezone,
    validate_webhook_url,
)
from coffer.tenancy.tables import (
    BONUS_REFUND_RULES,
    CONSUMPTION_ORDERS,
    MEMBER_STATUSES,
    api_keys,
    members,
    services,
)

GRADE_MAX = 40


def _service(row: RowMapping) -> Service:
    return Service(
        id=row["id"],
        name=row["name"],
        currency=row["currency"],
        timezone=row["timezone"],
        consumption_order=row["consumption_order"],
        webhook_url=row["webhook_url"],
        created_at=row["created_at"],
        grant_approval_threshold=row["grant_approval_threshold"],
        bonus_refund=row["bonus_refund"],
    )


def _member(row: RowMapping) -> Member:
    return Member(
        id=row["id"],
        service_id=row["service_id"],
        external_id=row["external_id"],
        grade=row["grade"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def create_service(
    conn: Connection, *, name: str, currency: str, timezone: str, now: datetime
) -> Service:
    if not name.strip():
        raise InvalidInput("invalid_name", "A service needs a name.")
    service_id = uuid7()
    values = {
        "id": service_id,
        "name": name.strip(),
        "currency": lookup_currency(currency).code,
        "timezone": validate_timezone(timezone),
        "consumption_order": "bonus_first",
        "link_secret": generate_link_secret(),
        "created_at": now,
    }
    conn.execute(insert(services).values(**values))
    return get_service(conn, service_id)


def get_service(conn: Connection, service_id: UUID) -> Service:
    row = conn.execute(select(services).where(services.c.id == service_id)).mappings().first()
    if row is None:
        raise NotFound("service_not_found", "No such service.")
    return _service(row)


def list_services(conn: Connection) -> list[Service]:
    rows = conn.execute(select(services).order_by(services.c.id)).mappings()
    return [_service(row) for row in rows]


def update_service_settings(conn: Connection, service_id: UUID, **changes: Any) -> Service:
    """Change consumption order, time zone, grant approval threshold, the bonus refund rule or
    webhook endpoint.

    ``grant_approval_threshold`` is an amount in minor units, or None for "no approval needed";
    ``bonus_refund`` is one of ``BONUS_REFUND_RULES`` (``invalid_bonus_refund``).
    """
    allowed = {
        "consumption_order",
        "bonus_refund",
        "timezone",
        "webhook_url",
        "webhook_secret",
        "name",
        "grant_approval_threshold",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput("invalid_setting", f"Unknown settings: {sorted(unknown)}")
    if "consumption_order" in changes and changes["consumption_order"] not in CONSUMPTION_ORDERS:
        raise InvalidInput(
            "invalid_consumption_order", f"consumption_order must be one of {CONSUMPTION_ORDERS}"
        )
    if "bonus_refund" in changes and changes["bonus_refund"] not in BONUS_REFUND_RULES:
        raise InvalidInput(
            "invalid_bonus_refund", f"bonus_refund must be one of {BONUS_REFUND_RULES}"
        )
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if changes.get("webhook_url") is not None:
        validate_webhook_url(changes["webhook_url"])
    if changes.get("grant_approval_threshold") is not None:
        parse_amount(changes["grant_approval_threshold"], field="grant_approval_threshold")
    get_service(conn, service_id)
    if changes:
        conn.execute(update(services).where(services.c.id == service_id).values(**changes))
    return get_service(conn, service_id)


def webhook_target(conn: Connection, service_id: UUID) -> tuple[str | None, str | None]:
    """The service's webhook URL and signing secret (the secret is never shown in reads)."""
    row = conn.execute(
        select(services.c.webhook_url, services.c.webhook_secret).where(services.c.id == service_id)
    ).first()
    if row is None:
        raise NotFound("service_not_found", "No such service.")
    return row[0], row[1]


def link_secret(conn: Connection, service_id: UUID) -> str:
    """The key a service signs its members' cash-web links with (never shown in reads)."""
    secret = conn.execute(
        select(services.c.link_secret).where(services.c.id == service_id)
    ).scalar_one_or_none()
    if secret is None:
        raise NotFound("service_not_found", "No such service.")
    return str(secret)


def rotate_link_secret(conn: Connection, service_id: UUID) -> str:
    """Replace the link secret; links signed with the old one stop working at once."""
    secret = generate_link_secret()
    result = conn.execute(
        update(services).where(services.c.id == service_id).values(link_secret=secret)
    )
    if result.rowcount != 1:
        raise NotFound("service_not_found", "No such service.")
    return secret


# --- API keys -------------------------------------------------------------------------------


def create_api_key(
    conn: Connection, service_id: UUID, *, now: datetime, label: str = ""
) -> NewApiKey:
    """Create a key; the plaintext is returned once and never stored."""
    get_service(conn, service_id)
    prefix, plaintext = generate_api_key()
    key_id = uuid7()
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            service_id=service_id,
            prefix=prefix,
            secret_hash=hash_api_key(plaintext),
            label=label,
            created_at=now,
        )
    )
    return NewApiKey(id=key_id, prefix=prefix, plaintext=plaintext)


def revoke_api_key(conn: Connection, service_id: UUID, prefix: str, *, now: datetime) -> None:
    result = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.service_id == service_id,
            api_keys.c.prefix == prefix,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    if result.rowcount != 1:
        raise NotFound("api_key_not_found", "No active API key with that prefix.")


def list_api_keys(conn: Connection, service_id: UUID) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(api_keys.c.prefix, api_keys.c.label, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.service_id == service_id)
        .order_by(api_keys.c.created_at)
    ).mappings()
    return [dict(row) for row in rows]


def authenticate(conn: Connection, presented: str) -> Service:
    """Return the service a presented API key belongs to, or raise ``invalid_api_key``."""
    prefix = split_api_key(presented)
    row = None
    if prefix is not None:
        row = conn.execute(
            select(api_keys.c.service_id, api_keys.c.secret_hash, api_keys.c.revoked_at).where(
                api_keys.c.prefix == prefix
            )
        ).first()
    if row is None or row.revoked_at is not None or not key_matches(presented, row.secret_hash):
        raise Unauthorized("invalid_api_key", "The API key is missing, malformed or revoked.")
    return get_service(conn, row.service_id)


# --- members --------------------------------------------------------------------------------


def validate_grade(grade: object) -> str:
    if (
        not isinstance(grade, str)
        or not grade.strip()
        or len(grade) > GRADE_MAX
        or not is_storable_text(grade)
    ):
        raise InvalidInput("invalid_grade", f"grade must be 1-{GRADE_MAX} characters.")
    return grade.strip()


def create_member(
    conn: Connection, service_id: UUID, external_id: str, *, now: datetime, grade: str = "basic"
) -> Member:
    values = {
        "id": uuid7(),
        "service_id": service_id,
        "external_id": validate_external_id(external_id),
        "grade": validate_grade(grade),
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(members).values(**values))
    except IntegrityError as error:
        raise Conflict(
            "member_exists", f"Member {external_id!r} already exists in this service."
        ) from error
    return get_member(conn, service_id, external_id)


def get_member(conn: Connection, service_id: UUID, external_id: str) -> Member:
    row = (
        conn.execute(
            select(members).where(
                members.c.service_id == service_id, members.c.external_id == external_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("member_not_found", f"No member {external_id!r} in this service.")
    return _member(row)


def get_member_by_id(conn: Connection, service_id: UUID, member_id: UUID) -> Member:
    row = (
        conn.execute(
            select(members).where(members.c.service_id == service_id, members.c.id == member_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("member_not_found", "No such member in this service.")
    return _member(row)


def set_member_status(
    conn: Connection, service_id: UUID, external_id: str, status: str, *, now: datetime
) -> Member:
    if status not in MEMBER_STATUSES:
        raise InvalidInput("invalid_status", f"status must be one of {MEMBER_STATUSES}")
    member = get_member(conn, service_id, external_id)
    if member.status == "closed" and status != "closed":
        raise Conflict("member_closed", "A closed member cannot be reopened.")
    conn.execute(
        update(members).where(members.c.id == member.id).values(status=status, updated_at=now)
    )
    return get_member(conn, service_id, external_id)


def change_member_grade(
    conn: Connection,
    service_id: UUID,
    member_id: UUID,
    grade: str,
    *,
    from_grade: str,
    now: datetime,
) -> bool:
    """Set the grade of a member whose grade is still ``from_grade`` (a guarded UPDATE).

    False when the member's grade is no longer ``from_grade`` (someone changed it meanwhile);
    ``coffer.grades.service.set_grade`` is the one caller, so every change has its history.
    """
    result = conn.execute(
        update(members)
        .where(
            members.c.id == member_id,
            members.c.service_id == service_id,
            members.c.grade == from_grade,
        )
        .values(grade=validate_grade(grade), updated_at=now)
    )
    return result.rowcount == 1


SEARCH_MAX_LIMIT = 200


def search_members(
    conn: Connection,
    service_id: UUID,
    *,
    external_id: str | None = None,
    prefix: bool = False,
    grade: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> tuple[list[Member], str | None]:
    """Members of a service by external id (exact, or prefix), grade and status.

    Ordered by external id; pass the returned cursor as ``after`` for the next page.
    """
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise InvalidInput("invalid_limit", f"limit must be from 1 to {SEARCH_MAX_LIMIT}.")
    if status is not None and status not in MEMBER_STATUSES:
        raise InvalidInput("invalid_status", f"status must be one of {MEMBER_STATUSES}")
    query = select(members).where(members.c.service_id == service_id)
    if external_id:
        if prefix:
            # LIKE narrows (and can use an index on PostgreSQL); SQLite's LIKE ignores ASCII
            # case, so the substring comparison keeps the match exact on both.
            query = query.where(
                members.c.external_id.startswith(external_id, autoescape=True),
                func.substr(members.c.external_id, 1, len(external_id)) == external_id,
            )
        else:
            query = query.where(members.c.external_id == external_id)
    if grade:
        query = query.where(members.c.grade == grade)
    if status:
        query = query.where(members.c.status == status)
    if after is not None:
        query = query.where(members.c.external_id > after)
    rows = conn.execute(query.order_by(members.c.external_id).limit(limit + 1)).mappings().all()
    found = [_member(row) for row in rows[:limit]]
    return found, (found[-1].external_id if len(rows) > limit else None)


def member_grades(conn: Connection, service_id: UUID) -> list[str]:
    """The grades in use in a service (for search filters)."""
    rows = conn.execute(
        select(members.c.grade)
        .where(members.c.service_id == service_id)
        .group_by(members.c.grade)
        .order_by(members.c.grade)
    ).scalars()
    return [str(grade) for grade in rows]
