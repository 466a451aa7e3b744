"""The service's webhook endpoint: where Coffer sends signed events, and the signing secret."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.engine import Connection

from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.requests import WebhookEndpointSet
from coffer.api.responses import WebhookEndpointCreated, WebhookEndpointOut
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import new_webhook_secret

router = APIRouter(tags=["webhooks"])


@router.put("/webhook-endpoint", response_model=WebhookEndpointCreated)
def set_endpoint(
    body: WebhookEndpointSet, caller: CallerDep, runtime: RuntimeDep
) -> WebhookEndpointCreated:
    """Set the URL and generate a new signing secret, returned this once.

    Every PUT rotates the secret: deliveries are signed with the new one from now on.
    """
    secret = new_webhook_secret()

    def change(conn: Connection) -> None:
        tenancy.update_service_settings(
            conn, caller.service.id, webhook_url=body.url, webhook_secret=secret
        )

    runtime.db.write(change)
    return WebhookEndpointCreated(url=body.url, secret=secret)


@router.get("/webhook-endpoint", response_model=WebhookEndpointOut)
def get_endpoint(caller: CallerDep, runtime: RuntimeDep) -> WebhookEndpointOut:
    """The URL and whether a secret is set (the secret itself is never shown again)."""
    url, secret = runtime.db.read(lambda conn: tenancy.webhook_target(conn, caller.service.id))
    return WebhookEndpointOut(url=url, secret_set=secret is not None)


@router.delete("/webhook-endpoint", status_code=204, response_class=Response)
def delete_endpoint(caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Stop sending webhooks: removes the URL and the secret."""

    def change(conn: Connection) -> None:
        tenancy.update_service_settings(
            conn, caller.service.id, webhook_url=None, webhook_secret=None
        )

    runtime.db.write(change)
    return Response(status_code=204)
