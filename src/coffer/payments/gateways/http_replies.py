"""What the HTTP adapters share: their client, one request, a reply as an outcome, the return.

A reply the adapter cannot read with certainty is :class:`Unknown`, never :class:`Declined`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import httpx

from coffer.kernel.errors import InvalidInput
from coffer.kernel.money import parse_amount
from coffer.payments.gateways.json_fields import WireError
from coffer.payments.gateways.outcomes import Declined, SettlementLine, Unknown
from coffer.payments.gateways.port import GatewayUnavailable, InvalidReturn, ReturnParams

T = TypeVar("T")

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
    content: bytes | None = None,
) -> Reply | Unknown:
    """One request (a JSON ``body`` or raw ``content``); any transport failure (timeout,
    refused, dropped) is :class:`Unknown`."""
    try:
        response = client.request(
            method, url, json=body, content=content, headers=dict(headers), timeout=timeout
        )
    except httpx.HTTPError as exc:
        return Unknown(reason=f"{type(exc).__name__}: {exc}")
    try:
        decoded: Any = json.loads(response.content)
    except ValueError:
        decoded = None
    return Reply(response.status_code, decoded)


def basic_auth(secret_key: str) -> str:
    """``Authorization: Basic base64(secret_key + ":")`` (Toss and the sandbox PG)."""
    token = base64.b64encode(f"{secret_key}:".encode()).decode("ascii")
    return f"Basic {token}"


class HttpGateway:
    """An adapter's HTTP plumbing: its client, ``close``/``with``, and ``_send``.

    ``client`` is for tests; without it the gateway owns (and closes) its own client. Every
    request carries ``headers`` (the credentials).
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        client: httpx.Client | None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        form: Sequence[tuple[str, str]] | None = None,
        idempotency_key: str | None = None,
    ) -> Reply | Unknown:
        """``path`` with ``params`` as its query; a JSON ``body`` or a form-encoded ``form``."""
        headers = dict(self._headers)
        content: bytes | None = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(form).encode()
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return send(
            self._client,
            method,
            f"{self._base}{path}" + (f"?{urlencode(params)}" if params else ""),
            headers=headers,
            timeout=self._timeout,
            body=body,
            content=content,
        )


def read_reply(
    reply: Reply | Unknown,
    read: Callable[[object], T],
    fail: Callable[[Reply], Declined | Unknown],
    unreadable: str,
) -> T | Declined | Unknown:
    """A 2xx body through ``read``; a non-2xx reply through ``fail``.

    A body ``read`` cannot read (:class:`WireError`) is Unknown, ``"{unreadable}: {why}"``.
    """
    if isinstance(reply, Unknown):
        return reply
    if not 200 <= reply.status < 300:
        return fail(reply)
    try:
        return read(reply.body)
    except WireError as exc:
        return Unknown(reason=f"{unreadable}: {exc}")


def settlement_reply(
    reply: Reply | Unknown, day: date, read: Callable[[object], list[SettlementLine]]
) -> list[SettlementLine]:
    """The lines of a settlement reply; anything but a readable 200 is GatewayUnavailable."""
    if isinstance(reply, Unknown):
        raise GatewayUnavailable(reply.reason)
    if reply.status != 200:
        raise GatewayUnavailable(f"HTTP {reply.status} for the settlement of {day}")
    try:
        return read(reply.body)
    except WireError as exc:
        raise GatewayUnavailable(f"unreadable settlement of {day}: {exc}") from exc


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
