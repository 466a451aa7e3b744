"""Idempotency keys for the POSTs that move money (Stripe's model).

A client sends ``Idempotency-Key: <unique string>`` (1-255 printable ASCII characters; a UUID is a
good choice) with every money-moving POST, and sends the same key again when it retries:

- The key is claimed first thing in the operation's own database transaction
  (``INSERT … ON CONFLICT DO NOTHING``). Two concurrent requests with one key therefore
  serialise: the second waits for the first to commit and then sees its row.
- Same key, same request (method, path and canonical JSON body) → the first response is
  returned again, same status and body, with the header ``Idempotent-Replayed: true``.
- Same key, different request → 409 ``idempotency_key_reused``.
- Only successful responses are kept. A request refused with an error (4xx, or a 500) rolls back
  together with its key, so retrying with the same key runs it again — after, say, topping up
  the wallet that had insufficient funds.
- Keys are per service and are kept at least ``RETENTION`` (24 hours); older keys are purged by
  :func:`coffer.db.idempotency.purge` (the hourly ``idempotency.purge`` job), after
  which a key can be reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from coffer.api.auth import CallerDep
from coffer.api.context import Caller, RuntimeDep
from coffer.app import Runtime
from coffer.db import idempotency as keys
from coffer.db.idempotency import IDEMPOTENCY_KEY_MAX
from coffer.kernel.errors import CofferError, Conflict

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyError(CofferError):
    status = 400


def check_key(value: str | None) -> str:
    """The key as sent, or ``idempotency_key_required`` / ``invalid_idempotency_key`` (400)."""
    if value is None:
        raise IdempotencyKeyError(
            "idempotency_key_required", f"This request moves money: send an {HEADER} header."
        )
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or not all(
        "\x20" <= ch <= "\x7e" for ch in value
    ):
        raise IdempotencyKeyError(
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters.",
        )
    return value


def request_hash(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, path and canonical JSON body (key order and spacing ignored)."""
    canonical: bytes
    if not body.strip():
        canonical = b"{}"
    else:
        try:
            parsed = json.loads(body)
        except ValueError:  # not JSON: validation refuses it later; hash the bytes meanwhile
            canonical = body
        else:
            canonical = json.dumps(
                {} if parsed is None else parsed, sort_keys=True, separators=(",", ":")
            ).encode()
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool

    def response(self) -> JSONResponse:
        headers = {REPLAYED_HEADER: "true"} if self.replayed else None
        return JSONResponse(self.body, status_code=self.status, headers=headers)


def claim(
    conn: Connection, service_id: UUID, key: str, hashed: str, now: datetime
) -> StoredResponse | None:
    """Claim ``key`` for this request; None if claimed, else the response to replay."""
    try:
        stored = keys.claim(conn, service_id, key, hashed, now)
    except keys.KeyReused as error:
        raise Conflict(
            "idempotency_key_reused",
            f"This {HEADER} was already used for a different request.",
        ) from error
    return None if stored is None else StoredResponse(stored.status, stored.body, replayed=True)


@dataclass(frozen=True, slots=True)
class Idempotent:
    """A money-moving request under its key; ``now`` is the request's one clock reading."""

    runtime: Runtime
    caller: Caller
    key: str
    request_hash: str
    now: datetime

    def run(self, work: Callable[[Connection], BaseModel], *, status: int = 201) -> JSONResponse:
        """Run ``work`` in one write transaction after claiming the key, or replay."""
        service_id = self.caller.service.id

        def transaction(conn: Connection) -> StoredResponse:
            stored = claim(conn, service_id, self.key, self.request_hash, self.now)
            if stored is not None:
                return stored
            body = work(conn).model_dump(mode="json")
            keys.record(conn, service_id, self.key, status, body)
            return StoredResponse(status, body, replayed=False)

        return self.runtime.db.write(transaction).response()


async def idempotent(
    request: Request,
    runtime: RuntimeDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Required on money-moving POSTs: 1-255 printable ASCII characters, "
            "unique per operation; resend it on retries.",
        ),
    ] = None,
) -> Idempotent:
    key = check_key(idempotency_key)
    hashed = request_hash(request.method, request.url.path, await request.body())
    return Idempotent(runtime, caller, key, hashed, runtime.clock.now())


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
