"""Webhook signatures: verified on the raw bytes, constant-time, within 5 minutes."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from coffer.payments.gateways import Approved, InvalidWebhook
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.gateways.signature import sign, verify
from tests.gateways.wire_samples import payment

SECRET = "whsec_sandbox"
NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
T = int(NOW.timestamp())
EVENT = {
    "eventId": "evt_1",
    "eventType": "PAYMENT_STATUS_CHANGED",
    "createdAt": "2026-03-01T12:00:06+09:00",
    "data": payment(),
}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def gateway() -> SandboxGateway:
    return SandboxGateway("http://pg.test", "ck", "sk", SECRET)


def headers(body: bytes = BODY, t: int = T, secret: str = SECRET) -> dict[str, str]:
    return {"Sandbox-Signature": sign(secret, t, body), "Sandbox-Event-Id": "evt_1"}


def test_sign_is_hmac_sha256_over_timestamp_dot_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_a_valid_webhook_is_parsed() -> None:
    event = gateway().verify_webhook(headers(), BODY, NOW + timedelta(seconds=300))
    assert event.event_id == "evt_1"
    assert event.event_type == "PAYMENT_STATUS_CHANGED"
    assert isinstance(event.payment, Approved)


def test_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in headers().items()}
    assert gateway().verify_webhook(lowered, BODY, NOW).event_id == "evt_1"


def test_one_matching_candidate_among_several_is_enough() -> None:
    header = f"t={T},v1={'0' * 64},v1={sign(SECRET, T, BODY).split('v1=')[1]}"
    verify(SECRET, header, BODY, NOW)


@pytest.mark.parametrize(
    "bad_headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Sandbox-Signature": ""}, id="empty"),
        pytest.param({"Sandbox-Signature": f"t={T}"}, id="no-v1"),
        pytest.param({"Sandbox-Signature": "v1=abc"}, id="no-timestamp"),
        pytest.param({"Sandbox-Signature": f"t=x{T},v1=abc"}, id="bad-timestamp"),
        pytest.param(headers(secret="whsec_other"), id="forged-secret"),
        pytest.param({"Sandbox-Signature": f"t={T},v1={'0' * 64}"}, id="forged-hex"),
        pytest.param(headers(t=T - 301), id="stale"),
        pytest.param(headers(t=T + 301), id="from-the-future"),
    ],
)
def test_bad_signatures_are_refused(bad_headers: dict[str, str]) -> None:
    with pytest.raises(InvalidWebhook):
        gateway().verify_webhook(bad_headers, BODY, NOW)


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(InvalidWebhook):
        gateway().verify_webhook(headers(), BODY.replace(b"10000", b"90000"), NOW)


def test_the_same_json_serialised_differently_is_refused() -> None:
    reserialised = json.dumps(json.loads(BODY), indent=2).encode()
    assert json.loads(reserialised) == json.loads(BODY)
    with pytest.raises(InvalidWebhook):
        gateway().verify_webhook(headers(), reserialised, NOW)


def test_a_signed_but_unreadable_body_is_refused() -> None:
    body = b'{"eventId": "evt_1"'
    with pytest.raises(InvalidWebhook):
        gateway().verify_webhook(headers(body), body, NOW)


def test_an_event_id_header_that_differs_from_the_body_is_refused() -> None:
    tampered = headers() | {"Sandbox-Event-Id": "evt_2"}
    with pytest.raises(InvalidWebhook):
        gateway().verify_webhook(tampered, BODY, NOW)
