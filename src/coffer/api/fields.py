"""Field types of the open API: strict amounts, safe text, choices, RFC3339 times, ids.

Every validator here refuses bad input with a ``PydanticCustomError`` whose type is a stable
error code (``invalid_amount`` …); :data:`API_ERROR_CODES` lists them so that the error handler
knows which Pydantic error types are ours. Each type still publishes a plain JSON schema
(``integer`` with bounds, ``string`` with an enum …) in the OpenAPI document.

Text is refused when it could not be stored as is: control characters (NUL is rejected by
PostgreSQL) and lone surrogates (not encodable as UTF-8) are input errors, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from coffer.kernel.errors import InvalidInput, NotFound
from coffer.kernel.money import MAX_AMOUNT, parse_amount
from coffer.kernel.text import is_storable_text
from coffer.ledger.model import CASH_KINDS
from coffer.ledger.queries import HISTORY_MAX_LIMIT, JOURNAL_KINDS
from coffer.ledger.service import MAX_HOLD_SECONDS
from coffer.payments.charges import RETURN_URL_MAX, check_return_url
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.pg_tables import PG_COMPANIES
from coffer.payments.states import CHARGE_STATUSES
from coffer.tenancy.model import (
    EXTERNAL_ID_MAX,
    WEBHOOK_URL_MAX,
    validate_external_id,
    validate_webhook_url,
)
from coffer.tenancy.service import GRADE_MAX
from coffer.tenancy.tables import MEMBER_STATUSES

#: Codes our validators give; any other Pydantic error type is reported as ``invalid_request``.
API_ERROR_CODES: set[str] = set()


def _code(code: str) -> str:
    API_ERROR_CODES.add(code)
    return code


def _fail(code: str, message: str) -> PydanticCustomError:
    # The message is a template: braces would be read as placeholders.
    return PydanticCustomError(code, message.replace("{", "(").replace("}", ")"))


# --- amounts --------------------------------------------------------------------------------

_INVALID_AMOUNT = _code("invalid_amount")


def _amount(value: object) -> int:
    try:
        return parse_amount(value)
    except InvalidInput as error:
        raise _fail(_INVALID_AMOUNT, error.message) from None


#: A JSON integer from 1 to 2**53 in minor units. Floats (even 100.0), strings and booleans are
#: refused, never rounded or coerced; the rule is :func:`coffer.kernel.money.parse_amount`.
Amount = Annotated[
    int,
    PlainValidator(_amount),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT}),
]


_INVALID_HOLD_SECONDS = _code("invalid_expires_in_seconds")


def _hold_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HOLD_SECONDS:
        raise _fail(
            _INVALID_HOLD_SECONDS,
            f"expires_in_seconds must be an integer from 1 to {MAX_HOLD_SECONDS}.",
        )
    return value


HoldSeconds = Annotated[
    int,
    PlainValidator(_hold_seconds),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_HOLD_SECONDS}),
]


# --- text and choices -----------------------------------------------------------------------


def _text(code: str, field: str, max_length: int, *, multiline: bool = False) -> PlainValidator:
    def check(value: object) -> str:
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= max_length
            or not is_storable_text(value, multiline=multiline)
        ):
            raise _fail(
                code,
                f"{field} must be text of 1 to {max_length} characters without control characters.",
            )
        return value

    _code(code)
    return PlainValidator(check)


def _text_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "minLength": 1, "maxLength": max_length})


ExternalId = Annotated[
    str,
    _text("invalid_external_id", "external_id", EXTERNAL_ID_MAX),
    _text_schema(EXTERNAL_ID_MAX),
]
Grade = Annotated[str, _text("invalid_grade", "grade", GRADE_MAX), _text_schema(GRADE_MAX)]
Reference = Annotated[str, _text("invalid_reference", "reference", 200), _text_schema(200)]
Memo = Annotated[str, _text("invalid_memo", "memo", 500, multiline=True), _text_schema(500)]
Reason = Annotated[str, _text("invalid_reason", "reason", 500, multiline=True), _text_schema(500)]


def _choice(code: str, field: str, options: tuple[str, ...]) -> PlainValidator:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise _fail(code, f"{field} must be one of: {', '.join(options)}.")
        return value

    _code(code)
    return PlainValidator(check)


def _enum(options: tuple[str, ...]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(options)})


GRANT_SOURCES = ("api", "event", "coupon")
HOLD_FILTERS = ("active", "all")

CashKind = Annotated[str, _choice("invalid_cash_kind", "cash_kind", CASH_KINDS), _enum(CASH_KINDS)]
GrantSource = Annotated[
    str, _choice("invalid_source", "source", GRANT_SOURCES), _enum(GRANT_SOURCES)
]
MemberStatus = Annotated[
    str, _choice("invalid_status", "status", MEMBER_STATUSES), _enum(MEMBER_STATUSES)
]
PaymentMethodName = Annotated[
    str, _choice("invalid_method", "method", PAYMENT_METHODS), _enum(PAYMENT_METHODS)
]
PgCompany = Annotated[str, _choice("invalid_pg", "pg", PG_COMPANIES), _enum(PG_COMPANIES)]
ChargeStatusName = Annotated[
    str, _choice("invalid_status", "status", CHARGE_STATUSES), _enum(CHARGE_STATUSES)
]
HoldFilter = Annotated[str, _choice("invalid_status", "status", HOLD_FILTERS), _enum(HOLD_FILTERS)]
JournalKind = Annotated[str, _choice("invalid_kind", "kind", JOURNAL_KINDS), _enum(JOURNAL_KINDS)]


_INVALID_URL = _code("invalid_url")


def _url(value: object) -> str:
    try:
        return validate_webhook_url(value)
    except InvalidInput as error:
        raise _fail(_INVALID_URL, error.message) from error


_INVALID_RETURN_URL = _code("invalid_return_url")


def _return_url(value: object) -> str:
    try:
        return check_return_url(value)
    except InvalidInput as error:
        raise _fail(_INVALID_RETURN_URL, error.message) from error


#: Where the member's browser goes after paying; Coffer adds ``charge_id`` and ``status``.
ReturnUrl = Annotated[
    str,
    PlainValidator(_return_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": RETURN_URL_MAX}),
]

#: Where webhooks are sent. Non-ASCII hosts must be given in their IDNA (``xn--``) form.
WebhookUrl = Annotated[
    str,
    PlainValidator(_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": WEBHOOK_URL_MAX}),
]


# --- times ----------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)
_INVALID_EXPIRY = _code("invalid_expiry")


def _expiry(value: object) -> datetime:
    message = "expires_at must be an RFC 3339 date-time with an offset, e.g. 2026-12-31T15:00:00Z."
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _fail(_INVALID_EXPIRY, message)
    try:
        moment = datetime.fromisoformat(value.upper().replace(" ", "T"))
        if moment.tzinfo is None:
            raise _fail(_INVALID_EXPIRY, message)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _fail(_INVALID_EXPIRY, message) from None


#: A timezone-aware instant; a date-time without an offset is refused (``invalid_expiry``).
ExpiresAt = Annotated[
    datetime,
    PlainValidator(_expiry),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z``, microseconds only when there are some."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: Every date-time in a response: RFC 3339 in UTC.
UtcTime = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# --- query parameters (always strings on the wire) ------------------------------------------

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INVALID_DATE = _code("invalid_date")
_INVALID_LIMIT = _code("invalid_limit")


def _day(value: object) -> date:
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(_INVALID_DATE, "Dates must be calendar dates written YYYY-MM-DD.")


Day = Annotated[
    date,
    PlainValidator(_day),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def _limit(value: object) -> int:
    text = str(value)
    if text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= HISTORY_MAX_LIMIT:
        return int(text)
    raise _fail(_INVALID_LIMIT, f"limit must be an integer from 1 to {HISTORY_MAX_LIMIT}.")


Limit = Annotated[
    int,
    PlainValidator(_limit),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": HISTORY_MAX_LIMIT}),
]


def _uuid_or(code: str, message: str) -> Callable[[object], UUID]:
    def check(value: object) -> UUID:
        try:
            return UUID(str(value))
        except ValueError:
            raise _fail(code, message) from None

    _code(code)
    return check


Cursor = Annotated[
    UUID,
    PlainValidator(
        _uuid_or("invalid_cursor", "cursor must be a next_cursor value from an earlier page."),
    ),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]


# --- path parameters ------------------------------------------------------------------------


def object_id(value: str, code: str, message: str) -> UUID:
    """An id from the path; one that cannot exist is simply not found."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(code, message) from None


def member_key(external_id: str) -> str:
    """An external id from the path; one no member can have is simply not found."""
    try:
        validate_external_id(external_id)
    except InvalidInput:
        raise NotFound("member_not_found", "No such member in this service.") from None
    if not is_storable_text(external_id):
        raise NotFound("member_not_found", "No such member in this service.")
    return external_id
