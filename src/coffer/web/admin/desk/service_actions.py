"""Changes to a service from the admin web, each with one audit row (before/after).

Secrets (API keys, webhook signing secrets) are returned to be shown once and never recorded:
the audit row names the key by its public prefix and says only whether a secret is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.kernel.errors import Conflict
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import NewApiKey, Service, new_webhook_secret
from coffer.web.admin.desk.operator import Operator

#: The settings the admin web edits.
SETTINGS = (
    "consumption_order",
    "bonus_refund",
    "timezone",
    "grant_approval_threshold",
    "webhook_url",
)


def settings_of(service: Service) -> dict[str, Any]:
    return {name: getattr(service, name) for name in SETTINGS}


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service_id: UUID,
    *,
    target_type: str,
    target_id: str,
    before: Any,
    after: Any,
    now: datetime,
    reason: str = "",
) -> None:
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        service_id=service_id,
        before=before,
        after=after,
        reason=reason,
        address=who.address,
        now=now,
    )


def create_api_key(
    conn: Connection, service_id: UUID, *, label: str, who: Operator, now: datetime
) -> NewApiKey:
    key = tenancy.create_api_key(conn, service_id, now=now, label=label)
    _record(
        conn,
        who,
        "services.api_key_create",
        service_id,
        target_type="api_key",
        target_id=key.prefix,
        before=None,
        after={"prefix": key.prefix, "label": label},
        now=now,
    )
    return key


def revoke_api_key(
    conn: Connection, service_id: UUID, prefix: str, *, who: Operator, now: datetime
) -> None:
    tenancy.revoke_api_key(conn, service_id, prefix, now=now)
    _record(
        conn,
        who,
        "services.api_key_revoke",
        service_id,
        target_type="api_key",
        target_id=prefix,
        before={"prefix": prefix, "revoked": False},
        after={"prefix": prefix, "revoked": True},
        now=now,
    )


def update_settings(
    conn: Connection, service_id: UUID, changes: dict[str, Any], *, who: Operator, now: datetime
) -> tuple[Service, str | None]:
    """Apply the settings that differ; returns the service and a new webhook secret, if any.

    Setting a webhook URL when none was set creates a signing secret (shown once); clearing the
    URL removes the secret too, as the open API does. Nothing different: ``settings_unchanged``.
    """
    current = tenancy.get_service(conn, service_id)
    before = settings_of(current)
    different = {name: value for name, value in changes.items() if before.get(name) != value}
    if not different:
        raise Conflict("settings_unchanged", "Nothing to change.")
    secret = None
    secret_before = tenancy.webhook_target(conn, service_id)[1]
    if "webhook_url" in different:
        if different["webhook_url"] is None:
            different["webhook_secret"] = None
        elif secret_before is None:
            secret = different["webhook_secret"] = new_webhook_secret()
    updated = tenancy.update_service_settings(conn, service_id, **different)
    after = settings_of(updated)
    secret_after = tenancy.webhook_target(conn, service_id)[1]
    _record(
        conn,
        who,
        "services.settings",
        service_id,
        target_type="service",
        target_id=str(service_id),
        before={**before, "webhook_secret_set": secret_before is not None},
        after={**after, "webhook_secret_set": secret_after is not None},
        now=now,
    )
    return updated, secret


def rotate_webhook_secret(
    conn: Connection, service_id: UUID, *, who: Operator, now: datetime
) -> str:
    """A new signing secret for the service's webhooks (the old one stops working)."""
    _url, old = tenancy.webhook_target(conn, service_id)
    secret = new_webhook_secret()
    tenancy.update_service_settings(conn, service_id, webhook_secret=secret)
    _record(
        conn,
        who,
        "services.webhook_secret_rotate",
        service_id,
        target_type="service",
        target_id=str(service_id),
        before={"webhook_secret_set": old is not None},
        after={"webhook_secret_set": True},
        now=now,
    )
    return secret
