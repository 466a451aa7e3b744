"""Rendering pages: one Jinja2 environment for the admin and cash webs.

Every render gets the request's translations as ``_``/``gettext``/``ngettext`` (context
variables, so concurrent requests in different languages never share state), the locale, and
``static(path)`` for vendored assets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from coffer.web.formatting import FILTERS
from coffer.web.i18n import LOCALES, request_locale, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
)
environment.filters.update(FILTERS)
environment.policies["ext.i18n.trimmed"] = True
templates = Jinja2Templates(env=environment)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    locale = request_locale(request)
    catalogue = translations(locale)
    values: dict[str, Any] = {
        "locale": locale,
        "locales": LOCALES,
        "_": catalogue.gettext,
        "gettext": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        **(context or {}),
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, name, values, status_code=status_code
    )
    return response
