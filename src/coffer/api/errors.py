"""One error envelope for every failure: ``{"error": {"code", "message", "details"}}``.

- A :class:`~coffer.kernel.errors.CofferError` keeps its own status and code.
- Request validation → 422. The code is the Pydantic error type when it is one of ours
  (``invalid_amount`` …, see :mod:`coffer.api.fields`) and every failing field agrees on it;
  otherwise ``invalid_request``. ``details.errors`` lists ``{field, code, message}`` per field.
  Broken JSON is 400 ``malformed_json``; a body that is not JSON at all is 415.
- Unknown routes are 404 ``not_found``, wrong methods 405 ``method_not_allowed``.
- Anything else is a bug: 500 ``internal_error``, logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from coffer.api.fields import API_ERROR_CODES
from coffer.kernel.errors import CofferError, RateLimited, Unauthorized

logger = logging.getLogger("coffer.api")

#: Codes for the framework's own HTTP errors.
_HTTP_CODES = {
    400: "malformed_json",  # the only 400 FastAPI raises itself: a body it could not decode
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

#: Per-field codes for Pydantic's built-in error types we name; the rest are ``invalid``.
_FIELD_CODES = {"missing": "required", "extra_forbidden": "unknown_field"}


class ErrorBody(BaseModel):
    code: str = Field(examples=["insufficient_funds"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def _safe(text: str) -> str:
    """Text that can always be encoded (lone surrogates from JSON input become '?')."""
    return text.encode("utf-8", "replace").decode("utf-8")


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": _safe(message), "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc[1:]] or [str(part) for part in loc]
    return _safe(".".join(parts))


def _validation(errors: Sequence[Any]) -> JSONResponse:
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    if any(isinstance(error.get("input"), bytes | bytearray) for error in errors):
        return error_response(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    items = [
        {
            "field": _field(error.get("loc", ())),
            "code": error["type"]
            if error["type"] in API_ERROR_CODES
            else _FIELD_CODES.get(error["type"], "invalid"),
            "message": _safe(str(error.get("msg", ""))),
        }
        for error in errors
    ]
    codes = {item["code"] for item in items}
    code = codes.pop() if len(codes) == 1 and codes <= API_ERROR_CODES else "invalid_request"
    if len(items) == 1:
        message = f"{items[0]['field']}: {items[0]['message']}"
    else:
        message = f"The request has {len(items)} invalid fields."
    return error_response(422, code, message, {"errors": items})


async def _on_coffer_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CofferError)
    headers = _headers(exc)
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


def _headers(exc: CofferError) -> dict[str, str] | None:
    """``WWW-Authenticate`` on a 401; ``Retry-After`` on a 429 that says how long to wait."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    wait = exc.details.get("retry_after_seconds")
    if isinstance(exc, RateLimited) and isinstance(wait, int) and wait >= 0:
        return {"Retry-After": str(wait)}
    return None


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation(exc.errors())


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    messages = {
        404: f"No route {request.url.path}.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CofferError, _on_coffer_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


#: For the OpenAPI document: the envelope under the statuses every endpoint may answer.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (401, "Missing, malformed or revoked API key (`invalid_api_key`)."),
        (404, "No such object in the calling service."),
        (409, "Conflicts with the current state."),
        (422, "Invalid input; `details.errors` lists the fields."),
    )
}
