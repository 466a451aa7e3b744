"""Connecting a service to a PG in one step: the contract, every method, and the routes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.payments import routing
from coffer.payments.commissions import MethodTerms
from coffer.payments.contracts import Contract, create_contract
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.secrets import SecretBox

#: The sandbox PG's demo merchant (docs/sandbox-pg.md): public test keys, never real money.
SANDBOX_DEMO_MERCHANT = {
    "merchant_id": "merchant_coffer_demo",
    "client_key": "test_ck_coffer_demo",
    "secret_key": "test_sk_coffer_demo",
    "webhook_secret": "whsec_coffer_demo",
}


def connect_pg(
    conn: Connection,
    service_id: UUID,
    *,
    pg: str,
    name: str,
    base_url: str | None,
    merchant_id: str,
    client_key: str,
    secret_key: str,
    webhook_secret: str,
    box: SecretBox,
    now: datetime,
    methods: tuple[str, ...] = PAYMENT_METHODS,
    commission_bp: int = 0,
) -> Contract:
    """A contract offering ``methods``, each routed to it after any PG already routed."""
    terms = MethodTerms(enabled=True, commission_bp=commission_bp, fixed_fee=0, min_fee=0)
    contract = create_contract(
        conn, service_id, pg=pg, name=name, merchant_id=merchant_id, base_url=base_url,
        client_key=client_key, secret_key=secret_key, webhook_secret=webhook_secret, box=box,
        now=now, methods=dict.fromkeys(methods, terms),
    )  # fmt: skip
    for method in methods:
        order = routing.routes(conn, service_id, method)
        routing.set_routes(conn, service_id, method, [*order, contract.id], now)
    return contract
