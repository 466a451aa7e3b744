"""Korean and English for every page: gettext catalogues, and the locale of a request.

Catalogues are the ``.po`` files under ``translations/`` (edited by people, kept in git); they are
compiled in memory when first needed, so there is no build step and no generated ``.mo`` file.
The locale comes from the ``coffer_lang`` cookie (set by the switch in every page header), else
the browser's ``Accept-Language``, else Korean.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"
COOKIE = "coffer_lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue for ``locale`` (English is the source language)."""
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def request_locale(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        language = part.split(";")[0].strip().lower()[:2]
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE
