"""Pure rules of admin accounts (passwords, lock-out, sessions) and of the audit log's hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from coffer.admins.model import (
    LOCK_DURATION,
    MAX_FAILED_ATTEMPTS,
    PASSWORD_MIN,
    after_failure,
    is_locked,
    normalize_email,
    same_token,
    session_end,
    token_hash,
    validate_password,
    validate_role,
)
from coffer.admins.passwords import hash_password, verify_password
from coffer.admins.permissions import MATRIX, ROLES, allowed
from coffer.audit.model import GENESIS, canonical, row_hash, to_json_value
from coffer.kernel.errors import InvalidInput

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_passwords_need_ten_characters() -> None:
    assert PASSWORD_MIN == 10
    validate_password("x" * 10)
    for bad in ("", "short", "x" * 9, "x" * 2000, "ten chars\x00!"):
        with pytest.raises(InvalidInput):
            validate_password(bad)


def test_password_hashes_are_argon2_salted_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("correct horse", "not a hash")
    assert not verify_password("correct horse", None)


def test_emails_are_lowercased_and_checked() -> None:
    assert normalize_email("  Ops@Example.COM ") == "ops@example.com"
    for bad in ("", "no-at-sign", "a@b", "two@@example.com", "sp ace@example.com", "x" * 300):
        with pytest.raises(InvalidInput):
            normalize_email(bad)


def test_roles_come_from_the_matrix() -> None:
    for role in ROLES:
        assert validate_role(role) == role
    with pytest.raises(InvalidInput):
        validate_role("admin")


def test_fifth_failure_locks_for_fifteen_minutes_and_restarts_the_count() -> None:
    attempts, locked_until = 0, None
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        attempts, locked_until = after_failure(attempts, NOW)
        assert locked_until is None
    assert attempts == MAX_FAILED_ATTEMPTS - 1 == 4
    attempts, locked_until = after_failure(attempts, NOW)
    assert (attempts, locked_until) == (0, NOW + timedelta(minutes=15))
    assert timedelta(minutes=15) == LOCK_DURATION
    assert is_locked(locked_until, NOW + timedelta(minutes=14, seconds=59))
    assert not is_locked(locked_until, NOW + timedelta(minutes=15))
    assert not is_locked(None, NOW)


def test_sessions_end_after_30_idle_minutes_or_12_hours() -> None:
    assert session_end(NOW, NOW) == NOW + timedelta(minutes=30)
    assert session_end(NOW, NOW + timedelta(hours=11, minutes=50)) == NOW + timedelta(hours=12)


def test_tokens_compare_in_constant_time_and_hash_to_hex() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abd", "abc")
    assert not same_token("", "abc")
    assert not same_token(None, "abc")
    assert len(token_hash("abc")) == 64


def test_superuser_may_do_everything_and_unknowns_are_denied() -> None:
    assert all(allowed("superuser", permission) for permission in MATRIX)
    assert not allowed("viewer", "cash.grant")
    assert not allowed("operator", "no.such.permission")
    assert not allowed("nobody", "dashboard.view")
    assert all(allowed(role, "session.end") for role in ROLES)


def _fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "id": UUID(int=1),
        "seq": 1,
        "at": NOW,
        "actor": "admin:ops@example.com",
        "action": "cash.grant",
        "target_type": "member",
        "target_id": "alice",
        "service_id": None,
        "before": {"bonus": 0},
        "after": {"bonus": 5000},
        "reason": "compensation",
        "address": "127.0.0.1",
        "prev_hash": GENESIS,
    }
    fields.update(changes)
    return fields


def test_row_hash_covers_every_field_including_prev_hash() -> None:
    base = row_hash(_fields())
    assert len(base) == 64
    assert row_hash(_fields()) == base
    for name, value in [
        ("seq", 2),
        ("at", NOW + timedelta(microseconds=1)),
        ("actor", "admin:other@example.com"),
        ("action", "cash.revoke"),
        ("target_id", "bob"),
        ("service_id", UUID(int=2)),
        ("before", {"bonus": 1}),
        ("after", {"bonus": 5001}),
        ("reason", "compensation!"),
        ("address", "10.0.0.1"),
        ("prev_hash", "1" * 64),
    ]:
        assert row_hash(_fields(**{name: value})) != base, name


def test_canonical_json_ignores_key_order_and_the_time_zone_of_at() -> None:
    kst = NOW.astimezone(ZoneInfo("Asia/Seoul"))
    assert canonical(_fields(at=kst)) == canonical(_fields())
    swapped = _fields(after={"b": 1, "a": 2})
    assert canonical(swapped) == canonical(_fields(after={"a": 2, "b": 1}))


def test_audit_values_are_plain_json_and_floats_are_refused() -> None:
    value = {"id": UUID(int=5), "rate": Decimal("0.15"), "at": NOW, 3: [1, "x", None, True]}
    assert to_json_value(value) == {
        "id": str(UUID(int=5)),
        "rate": "0.15",
        "at": "2026-03-01T09:00:00+00:00",
        "3": [1, "x", None, True],
    }
    with pytest.raises(InvalidInput):
        to_json_value({"amount": 10.5})
    with pytest.raises(InvalidInput):
        to_json_value(object())
