"""Webhook signatures: ``Coffer-Signature: t=<unix>,v1=<hex HMAC-SHA256>``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from coffer.jobs.signature import sign, verify

SECRET = "whsec_abc"
BODY = b'{"id":"e1","type":"cash.granted","data":{"amount":1000}}'
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_verify_accepts_a_fresh_signature() -> None:
    header = sign(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, NOW)
    assert verify(SECRET, header, BODY, NOW + timedelta(seconds=300))
    assert verify(SECRET, header, BODY, float(T + 10))


def test_verify_rejects_a_tampered_body() -> None:
    header = sign(SECRET, T, BODY)
    assert not verify(SECRET, header, BODY.replace(b"1000", b"9000"), NOW)
    assert not verify(SECRET, header, BODY + b" ", NOW)


def test_verify_rejects_a_wrong_secret() -> None:
    assert not verify("whsec_other", sign(SECRET, T, BODY), BODY, NOW)


def test_verify_rejects_an_old_or_future_timestamp() -> None:
    header = sign(SECRET, T, BODY)
    assert not verify(SECRET, header, BODY, NOW + timedelta(seconds=301))
    assert not verify(SECRET, header, BODY, NOW - timedelta(seconds=301))
    assert verify(SECRET, header, BODY, NOW + timedelta(seconds=600), tolerance=600)


def test_verify_rejects_a_replayed_signature_with_a_new_timestamp() -> None:
    old = sign(SECRET, T - 3600, BODY)
    stolen_v1 = old.split("v1=")[1]
    assert not verify(SECRET, f"t={T},v1={stolen_v1}", BODY, NOW)


def test_verify_accepts_any_matching_v1_during_secret_rotation() -> None:
    header = sign(SECRET, T, BODY)
    other = sign("whsec_new", T, BODY).split(",")[1]
    assert verify(SECRET, f"{header},{other}", BODY, NOW)
    assert verify("whsec_new", f"{header},{other}", BODY, NOW)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"t={T}", "v1=abc", f"t=soon,v1={'0' * 64}", f"t={T},v1=", f"t={T},v0=abc"],
)
def test_verify_rejects_malformed_headers(header: str) -> None:
    assert not verify(SECRET, header, BODY, NOW)
