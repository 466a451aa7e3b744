"""Time formatting: RFC 3339 in Asia/Seoul, and the KST calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from coffer.sandbox_pg.errors import PgError

KST = ZoneInfo("Asia/Seoul")


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).astimezone(KST).isoformat(timespec="seconds")


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def kst_date(moment: datetime) -> date:
    return as_utc(moment).astimezone(KST).date()


def parse_moment(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise PgError("INVALID_REQUEST", f"{field} must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PgError("INVALID_REQUEST", f"{field} must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise PgError("INVALID_REQUEST", f"{field} needs a UTC offset")
    return moment.astimezone(UTC)


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PgError("INVALID_DATE", "date must be YYYY-MM-DD") from None
