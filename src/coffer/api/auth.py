"""API key authentication: ``Authorization: Bearer <api key>`` → the calling service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coffer.api.context import Caller, RuntimeDep
from coffer.kernel.errors import Unauthorized
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import split_api_key

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A service API key (`ck_…`), shown once when it is created.",
)


def _refuse() -> Unauthorized:
    return Unauthorized("invalid_api_key", "The API key is missing, malformed or revoked.")


def authenticate(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller, or 401 ``invalid_api_key`` for a missing, malformed or revoked key."""
    if credentials is None:
        raise _refuse()
    key = credentials.credentials
    prefix = split_api_key(key) if key.isascii() and key.isprintable() else None
    if prefix is None:
        raise _refuse()
    service = runtime.db.read(lambda conn: tenancy.authenticate(conn, key))
    return Caller(service, prefix)


CallerDep = Annotated[Caller, Depends(authenticate)]
