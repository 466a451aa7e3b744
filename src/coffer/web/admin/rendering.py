"""Admin pages: the admin layout around a template, and one-shot flash messages.

``admin_page`` renders ``template_name`` (which extends ``admin/layout.html``) with ``ctx``
(the signed-in admin: the layout shows only the links ``ctx.can`` open), ``csrf_token`` (htmx
sends it as ``X-CSRF-Token``; forms put it in a hidden ``csrf_token`` field) and ``flashes``.

``flash(response, kind, text)`` shows ``text`` once on the next admin page this browser opens
(usually after a 303 redirect); ``kind`` is ``ok`` or ``error``. The text is shown as given:
translate it first (``translator(request)``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.web.admin.auth_context import AdminContext
from coffer.web.admin.labels import PERMISSION_LABELS, ROLE_LABELS
from coffer.web.i18n import request_locale, translations
from coffer.web.templating import render

FLASH_COOKIE = "coffer_flash"
FLASH_KINDS = ("ok", "error")
_FLASH_MAX_BYTES = 3000
_PENDING = "_coffer_flashes"
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def translator(request: Request) -> Callable[[str], str]:
    """``gettext`` in the request's language, for text made in Python (flashes, errors)."""
    return translations(request_locale(request)).gettext


def admin_page(
    request: Request,
    ctx: AdminContext,
    template_name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "ctx": ctx,
        "csrf_token": ctx.csrf_token,
        "flashes": read_flashes(request),
        "role_label": ROLE_LABELS.get(ctx.role, ctx.role),
        "permission_labels": PERMISSION_LABELS,
        **(context or {}),
    }
    response = render(request, template_name, values, status_code=status_code)
    private(response)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/admin", httponly=True, samesite="lax")
    return response


def private(response: Response) -> Response:
    """Admin pages are never cached, framed or sniffed."""
    response.headers.update(PRIVATE_HEADERS)
    return response


def flash(response: Response, kind: str, text: str) -> None:
    """Queue a one-shot message for the next admin page (call it more than once to add more)."""
    if kind not in FLASH_KINDS:
        raise ValueError(f"flash kind must be one of {FLASH_KINDS}")
    pending: list[dict[str, str]] = [*getattr(response, _PENDING, []), {"kind": kind, "text": text}]
    setattr(response, _PENDING, pending)
    encoded = _encode(pending)
    response.raw_headers = [
        (name, value)
        for name, value in response.raw_headers
        if not (name == b"set-cookie" and value.startswith(f"{FLASH_COOKIE}=".encode()))
    ]
    response.set_cookie(
        FLASH_COOKIE, encoded, max_age=300, path="/admin", httponly=True, samesite="lax"
    )


def _encode(messages: list[dict[str, str]]) -> str:
    raw = json.dumps(messages, ensure_ascii=False).encode()
    while len(raw) > _FLASH_MAX_BYTES and len(messages) > 1:
        messages = messages[1:]
        raw = json.dumps(messages, ensure_ascii=False).encode()
    if len(raw) > _FLASH_MAX_BYTES:
        raw = json.dumps([{**messages[0], "text": messages[0]["text"][:500]}]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_flashes(request: Request) -> list[dict[str, str]]:
    """The messages of the flash cookie; anything malformed is dropped, never shown raw."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value or len(value) > 2 * _FLASH_MAX_BYTES:
        return []
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return []
    if not isinstance(decoded, list):
        return []
    return [
        {"kind": item["kind"], "text": item["text"][:500]}
        for item in decoded[:10]
        if isinstance(item, dict)
        and item.get("kind") in FLASH_KINDS
        and isinstance(item.get("text"), str)
    ]
