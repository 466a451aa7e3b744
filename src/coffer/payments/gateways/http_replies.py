"""What the HTTP adapters share: one request, a non-2xx reply as an outcome, the success return.

A reply the adapter cannot read with certainty is :class:`Unknown`, never :class:`Declined`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import parse_amount
from coffer.payments.gateways.outcomes import Declined, Unknown
from coffer.payments.gateways.port import InvalidReturn, ReturnParams

#: 4xx statuses that say "try again" (or "our credentials"), not "no".
RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})
NO_CODES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # the decoded JSON, or None when the body is not JSON


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    body: dict[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
) -> Reply | Unknown:
    """One request; any transport failure (timeout, refused, dropped) is :class:`Unknown`."""
    try:
        response = client.request(
            method, url, json=body, params=params, headers=dict(headers), timeout=timeout
        )
    except httpx.HTTPError as exc:
        return Unknown(reason=f"{type(exc).__name__}: {exc}")
    try:
        decoded: Any = json.loads(response.content)
    except ValueError:
        decoded = None
    return Reply(response.status_code, decoded)


def error_body(data: object) -> tuple[str, str] | None:
    """``(code, message)`` of an error reply ``{"code", "message"}``, or None if unreadable."""
    if not isinstance(data, dict):
        return None
    code, message = data.get("code"), data.get("message")
    if not isinstance(code, str) or not code:
        return None
    return code, message if isinstance(message, str) else ""


def failure(
    reply: Reply,
    *,
    retryable: frozenset[int] = RETRYABLE_4XX,
    unknown_codes: frozenset[str] = NO_CODES,
    definite_codes: frozenset[str] = NO_CODES,
) -> Declined | Unknown:
    """A non-2xx reply as an outcome.

    1xx/3xx/5xx, a ``retryable`` status or an unreadable body are Unknown; so is a code in
    ``unknown_codes`` (the PG says "temporary"). A code in ``definite_codes`` is a decline even
    under a ``retryable`` status (a PG that answers refusals with 403). Other 4xx are declines.
    """
    status = reply.status
    if status >= 500 or status < 400:
        return Unknown(reason=f"HTTP {status} from the PG")
    error = error_body(reply.body)
    if error is None:
        return Unknown(reason=f"HTTP {status} with an unreadable error body")
    code, message = error
    if code in unknown_codes:
        return Unknown(reason=f"HTTP {status} {code}: {message}")
    if status in retryable and code not in definite_codes:
        return Unknown(reason=f"HTTP {status} {code}: {message}")
    return Declined(code=code, message=message)


def return_params(query_params: Mapping[str, str]) -> ReturnParams:
    """The success-URL return ``?paymentKey=…&orderId=…&amount=…``; raises InvalidReturn."""
    key, order_id, amount = (query_params.get(k) for k in ("paymentKey", "orderId", "amount"))
    if not key or not order_id or not amount:
        raise InvalidReturn("The return lacks paymentKey, orderId or amount.")
    if not (amount.isascii() and amount.isdigit()):
        raise InvalidReturn("The returned amount is not a whole number.")
    try:
        value = parse_amount(int(amount))
    except InvalidInput as exc:
        raise InvalidReturn(exc.message) from exc
    return ReturnParams(payment_key=key, order_id=order_id, amount=value)
