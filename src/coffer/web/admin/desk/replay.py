"""One submission per rendered form: a double click on "Grant" must not grant twice.

Each money-moving form carries a ``form_key`` made when the page was rendered. The action claims
it in the idempotency table (``admin-form:<key>``, scoped to the service) in its own transaction;
a second submission of the same form finds it claimed and does nothing. A refused action rolls
back and leaves the key free, so the form shown again with its error can be sent again.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.db import idempotency
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.admin.desk.operator import Operator

_KEY = re.compile(r"[0-9a-f]{32}")


def _scoped(key: str) -> str:
    return f"admin-form:{key}"


def claim_form(
    conn: Connection,
    service_id: UUID,
    values: dict[str, Any],
    action: str,
    who: Operator,
    now: datetime,
    _: Gettext,
) -> str | None:
    """The form's key if this is its first submission, None if it was already carried out."""
    key = text(values, "form_key")
    if not _KEY.fullmatch(key):
        raise FormError("form_key", _("This form has expired: reload the page and try again."))
    fingerprint = hashlib.sha256(f"{action}|{who.admin_id}".encode()).hexdigest()
    try:
        stored = idempotency.claim(conn, service_id, _scoped(key), fingerprint, now)
    except idempotency.KeyReused:
        raise FormError(
            "form_key", _("This form has expired: reload the page and try again.")
        ) from None
    return key if stored is None else None


def complete_form(conn: Connection, service_id: UUID, key: str, result: dict[str, Any]) -> None:
    """Record what the first submission did (every claimed key needs a response)."""
    idempotency.record(conn, service_id, _scoped(key), 303, result)
