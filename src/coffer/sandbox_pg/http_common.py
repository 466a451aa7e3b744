"""HTTP plumbing shared by the routers: the sandbox from the request, auth, errors."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import RowMapping
from starlette.exceptions import HTTPException as StarletteHTTPException

from coffer.sandbox_pg.errors import PgError
from coffer.sandbox_pg.service import Sandbox


def sandbox(request: Request) -> Sandbox:
    found: Sandbox = request.app.state.sandbox
    return found


def merchant(request: Request) -> RowMapping:
    """The merchant of ``Authorization: Basic base64(secret_key + ":")``."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise PgError("UNAUTHORIZED_KEY", "wrong or missing secret key", 401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise PgError("UNAUTHORIZED_KEY", "wrong or missing secret key", 401) from None
    secret_key, _, _password = decoded.partition(":")
    if not secret_key:
        raise PgError("UNAUTHORIZED_KEY", "wrong or missing secret key", 401)
    return sandbox(request).merchant_by_secret(secret_key)


def admin(request: Request) -> None:
    given = request.headers.get("x-sandbox-admin-token", "")
    expected = sandbox(request).settings.admin_token
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise PgError("UNAUTHORIZED_ADMIN", "wrong or missing X-Sandbox-Admin-Token", 401)


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def pg_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PgError)
        return error_response(exc.code, exc.message, exc.status)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request body"
        return error_response("INVALID_REQUEST", message, 400)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_REQUEST")
        return error_response(code, str(exc.detail), exc.status_code)

    async def crash(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response("INTERNAL_ERROR", "the sandbox failed unexpectedly", 500)

    app.add_exception_handler(PgError, pg_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)
