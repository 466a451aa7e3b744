"""From a PG contract to a working gateway adapter (its secrets opened only here)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import httpx
from sqlalchemy.engine import Connection

from coffer.db.transaction import Database
from coffer.payments.contracts import (
    Contract,
    ContractSecrets,
    contract_secrets,
    get_contract_by_id,
)
from coffer.payments.gateways.port import Gateway
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.gateways.stripe import API_BASE as STRIPE_API
from coffer.payments.gateways.stripe import StripeGateway
from coffer.payments.gateways.toss import API_BASE as TOSS_API
from coffer.payments.gateways.toss import TossGateway
from coffer.payments.secrets import SecretBox
from coffer.tenancy import service as tenancy

#: What the charge flows use to reach the PG of a contract; tests pass their own.
GatewayProvider = Callable[[UUID], Gateway]


def build_gateway(
    contract: Contract,
    secrets: ContractSecrets,
    *,
    currency: str,
    client: httpx.Client,
    timeout: float,
) -> Gateway:
    """The adapter for the contract's PG company, sharing one HTTP client (and its pool).

    ``base_url`` overrides the PG's public API address (a local fake, a test environment); the
    sandbox has no public address, so its contracts always carry one.
    """
    if contract.pg == "sandbox":
        assert contract.base_url is not None  # contracts refuse a sandbox without one
        return SandboxGateway(
            contract.base_url, contract.client_key, secrets.secret_key, secrets.webhook_secret,
            timeout=timeout, client=client,
        )  # fmt: skip
    if contract.pg == "toss":
        return TossGateway(
            contract.client_key, secrets.secret_key, secrets.webhook_secret,
            base_url=contract.base_url or TOSS_API, timeout=timeout, client=client,
        )  # fmt: skip
    if contract.pg == "stripe":
        return StripeGateway(
            secrets.secret_key, secrets.webhook_secret, base_url=contract.base_url or STRIPE_API,
            timeout=timeout, client=client, currency=currency,
        )  # fmt: skip
    raise ValueError(f"no adapter for PG {contract.pg!r}")


class GatewayDirectory:
    """A :data:`GatewayProvider` over the contracts table."""

    def __init__(self, db: Database, box: SecretBox, *, timeout: float = 10.0) -> None:
        self._db = db
        self._box = box
        self._timeout = timeout
        self._client = httpx.Client()

    def __call__(self, contract_id: UUID) -> Gateway:
        def load(conn: Connection) -> tuple[Contract, ContractSecrets, str]:
            contract = get_contract_by_id(conn, contract_id)
            currency = tenancy.get_service(conn, contract.service_id).currency
            return contract, contract_secrets(conn, contract_id, self._box), currency

        contract, secrets, currency = self._db.read(load)
        return build_gateway(
            contract, secrets, currency=currency, client=self._client, timeout=self._timeout
        )

    def close(self) -> None:
        self._client.close()
