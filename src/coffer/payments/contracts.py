"""PG contracts of a service: who the merchant is at which PG, its keys, and its payment methods.

Secrets (the PG secret key and the webhook secret) are sealed with a :class:`SecretBox` before
they are stored and never come back out of a read: :class:`Contract` carries only the hint.
:func:`contract_secrets` opens them for the code that calls the PG. Every function validates all
of its input before it writes, so a refused call changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.db.upsert import insert_if_absent
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.text import is_storable_text
from coffer.payments.commissions import MethodTerms, find_terms, validate_terms
from coffer.payments.gateways.outcomes import PAYMENT_METHODS
from coffer.payments.pg_tables import (
    CLIENT_KEY_MAX,
    CONTRACT_STATUSES,
    MERCHANT_ID_MAX,
    NAME_MAX,
    PG_COMPANIES,
    SECRET_MAX,
    pg_contract_methods,
    pg_contracts,
)
from coffer.payments.secrets import SecretBox
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import validate_webhook_url

#: PGs whose API has no public address Coffer could default to: the contract must give one.
BASE_URL_REQUIRED = frozenset({"sandbox"})


@dataclass(frozen=True, slots=True)
class Contract:
    id: UUID
    service_id: UUID
    pg: str
    name: str
    merchant_id: str
    base_url: str | None
    client_key: str
    secret_hint: str
    status: str


@dataclass(frozen=True, slots=True)
class ContractSecrets:
    secret_key: str
    webhook_secret: str


#: The columns a :class:`Contract` is read from (no sealed secret among them).
PUBLIC_COLUMNS = tuple(
    pg_contracts.c[name]
    for name in (
        "id",
        "service_id",
        "pg",
        "name",
        "merchant_id",
        "base_url",
        "client_key",
        "secret_hint",
        "status",
    )
)


@dataclass(frozen=True, slots=True)
class ContractFields:
    """The public fields of a contract, validated (what create and update store in clear)."""

    name: str
    merchant_id: str
    base_url: str | None
    client_key: str


def contract_of(row: RowMapping) -> Contract:
    """A :class:`Contract` from a row holding (at least) the columns of :data:`PUBLIC_COLUMNS`."""
    return Contract(
        id=row["id"],
        service_id=row["service_id"],
        pg=row["pg"],
        name=row["name"],
        merchant_id=row["merchant_id"],
        base_url=row["base_url"],
        client_key=row["client_key"],
        secret_hint=row["secret_hint"],
        status=row["status"],
    )


# -- validation -----------------------------------------------------------------------------


def validate_pg(pg: object) -> str:
    if not isinstance(pg, str) or pg not in PG_COMPANIES:
        raise InvalidInput("invalid_pg", f"pg must be one of {', '.join(PG_COMPANIES)}.")
    return pg


def validate_method(method: object) -> str:
    if not isinstance(method, str) or method not in PAYMENT_METHODS:
        raise InvalidInput("invalid_method", f"method must be one of {', '.join(PAYMENT_METHODS)}.")
    return method


def _text(value: object, code: str, label: str, maximum: int) -> str:
    """A required one-line text of at most ``maximum`` characters, without outer spaces."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(code, f"{label} is required.")
    cleaned = value.strip()
    if len(cleaned) > maximum or not is_storable_text(cleaned):
        raise InvalidInput(
            code, f"{label} must be at most {maximum} printable characters on one line."
        )
    return cleaned


def _secret(value: object, code: str, label: str) -> str:
    """A secret as given (no trimming inside); outer spaces are a copy-paste accident."""
    return _text(value, code, label, SECRET_MAX)


def validate_fields(
    pg: str, *, name: object, merchant_id: object, base_url: object, client_key: object
) -> ContractFields:
    """The public fields, cleaned; an empty base URL is none (the PG's own address)."""
    url = base_url.strip() or None if isinstance(base_url, str) else base_url
    if url is not None:
        try:
            url = validate_webhook_url(url)
        except InvalidInput:
            raise InvalidInput(
                "invalid_base_url", "base_url must be an absolute http or https URL."
            ) from None
    elif pg in BASE_URL_REQUIRED:
        raise InvalidInput("base_url_required", f"A {pg} contract needs the PG's base URL.")
    return ContractFields(
        name=_text(name, "invalid_contract_name", "name", NAME_MAX),
        merchant_id=_text(merchant_id, "invalid_merchant_id", "merchant_id", MERCHANT_ID_MAX),
        base_url=url,
        client_key=_text(client_key, "invalid_client_key", "client_key", CLIENT_KEY_MAX),
    )


def _validated_methods(methods: Mapping[str, MethodTerms] | None) -> dict[str, MethodTerms]:
    return {validate_method(m): validate_terms(t) for m, t in (methods or {}).items()}


# -- reads ----------------------------------------------------------------------------------


def get_contract(conn: Connection, service_id: UUID, contract_id: UUID) -> Contract:
    """A contract of this service (another service's is just as unknown as a missing one)."""
    contract = get_contract_by_id(conn, contract_id)
    if contract.service_id != service_id:
        raise NotFound("pg_contract_not_found", "No such PG contract.")
    return contract


def get_contract_by_id(conn: Connection, contract_id: UUID) -> Contract:
    """A contract by id alone, for webhooks that arrive at ``/pg/webhooks/{contract_id}``."""
    row = (
        conn.execute(select(*PUBLIC_COLUMNS).where(pg_contracts.c.id == contract_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("pg_contract_not_found", "No such PG contract.")
    return contract_of(row)


def list_contracts(conn: Connection, service_id: UUID) -> list[Contract]:
    """The service's contracts, oldest first."""
    rows = conn.execute(
        select(*PUBLIC_COLUMNS)
        .where(pg_contracts.c.service_id == service_id)
        .order_by(pg_contracts.c.id)
    ).mappings()
    return [contract_of(row) for row in rows]


def contract_secrets(conn: Connection, contract_id: UUID, box: SecretBox) -> ContractSecrets:
    """The contract's secrets in clear, for calling the PG and verifying its webhooks."""
    row = conn.execute(
        select(pg_contracts.c.secret_key_enc, pg_contracts.c.webhook_secret_enc).where(
            pg_contracts.c.id == contract_id
        )
    ).first()
    if row is None:
        raise NotFound("pg_contract_not_found", "No such PG contract.")
    return ContractSecrets(secret_key=box.open(row[0]), webhook_secret=box.open(row[1]))


# -- writes ---------------------------------------------------------------------------------


def create_contract(
    conn: Connection,
    service_id: UUID,
    *,
    pg: str,
    name: str,
    merchant_id: str,
    base_url: str | None,
    client_key: str,
    secret_key: str,
    webhook_secret: str,
    box: SecretBox,
    now: datetime,
    methods: Mapping[str, MethodTerms] | None = None,
) -> Contract:
    """A new active contract; ``pg_contract_name_taken`` if the service already has the name."""
    company = validate_pg(pg)
    fields = validate_fields(
        company, name=name, merchant_id=merchant_id, base_url=base_url, client_key=client_key
    )
    secret = _secret(secret_key, "invalid_secret_key", "secret_key")
    hook_secret = _secret(webhook_secret, "invalid_webhook_secret", "webhook_secret")
    terms = _validated_methods(methods)
    tenancy.get_service(conn, service_id)
    contract_id = uuid7()
    inserted = insert_if_absent(
        conn,
        pg_contracts,
        {
            "id": contract_id,
            "service_id": service_id,
            "pg": company,
            "name": fields.name,
            "merchant_id": fields.merchant_id,
            "base_url": fields.base_url,
            "client_key": fields.client_key,
            "secret_key_enc": box.seal(secret),
            "webhook_secret_enc": box.seal(hook_secret),
            "secret_hint": box.hint(secret),
            "status": "active",
            "created_at": now,
            "updated_at": now,
        },
        conflict_on=["service_id", "name"],
    )
    if not inserted:
        raise Conflict(
            "pg_contract_name_taken", f"The service already has a PG contract {fields.name!r}."
        )
    for method, method_terms in terms.items():
        _store_terms(conn, contract_id, method, method_terms)
    return get_contract_by_id(conn, contract_id)


def update_contract(
    conn: Connection,
    service_id: UUID,
    contract_id: UUID,
    *,
    name: str,
    merchant_id: str,
    base_url: str | None,
    client_key: str,
    secret_key: str | None = None,
    webhook_secret: str | None = None,
    box: SecretBox,
    now: datetime,
) -> Contract:
    """Replace the public fields; a secret is replaced only when a new value is given.

    ``pg_contract_unchanged`` when nothing would change; ``pg_contract_name_taken`` when another
    contract of the service has the name.
    """
    current = get_contract(conn, service_id, contract_id)
    fields = validate_fields(
        current.pg, name=name, merchant_id=merchant_id, base_url=base_url, client_key=client_key
    )
    values: dict[str, object] = {
        column: value
        for column, value in asdict(fields).items()
        if getattr(current, column) != value
    }
    if secret_key is not None and secret_key.strip():
        secret = _secret(secret_key, "invalid_secret_key", "secret_key")
        values |= {"secret_key_enc": box.seal(secret), "secret_hint": box.hint(secret)}
    if webhook_secret is not None and webhook_secret.strip():
        hook_secret = _secret(webhook_secret, "invalid_webhook_secret", "webhook_secret")
        values["webhook_secret_enc"] = box.seal(hook_secret)
    if not values:
        raise Conflict("pg_contract_unchanged", "Nothing to change.")
    if "name" in values and _name_taken(conn, service_id, fields.name, contract_id):
        raise Conflict(
            "pg_contract_name_taken", f"The service already has a PG contract {fields.name!r}."
        )
    conn.execute(
        update(pg_contracts)
        .where(pg_contracts.c.id == contract_id)
        .values(**values, updated_at=now)
    )
    return get_contract_by_id(conn, contract_id)


def _name_taken(conn: Connection, service_id: UUID, name: str, other_than: UUID) -> bool:
    found = conn.execute(
        select(pg_contracts.c.id).where(
            pg_contracts.c.service_id == service_id,
            pg_contracts.c.name == name,
            pg_contracts.c.id != other_than,
        )
    ).first()
    return found is not None


def set_status(
    conn: Connection, service_id: UUID, contract_id: UUID, status: str, *, now: datetime
) -> Contract:
    """Enable or disable a contract; a disabled one is never routed to."""
    if status not in CONTRACT_STATUSES:
        raise InvalidInput(
            "invalid_contract_status", f"status must be one of {', '.join(CONTRACT_STATUSES)}."
        )
    current = get_contract(conn, service_id, contract_id)
    if current.status == status:
        raise Conflict("pg_contract_status_unchanged", f"The contract is already {status}.")
    conn.execute(
        update(pg_contracts)
        .where(pg_contracts.c.id == contract_id)
        .values(status=status, updated_at=now)
    )
    return get_contract_by_id(conn, contract_id)


def set_method(
    conn: Connection,
    service_id: UUID,
    contract_id: UUID,
    method: str,
    terms: MethodTerms,
    *,
    now: datetime,
) -> MethodTerms | None:
    """Offer (or stop offering) ``method`` on the contract with these terms.

    Returns the terms it replaced (None if the method was not configured);
    ``pg_method_unchanged`` when they are the same.
    """
    validate_method(method)
    validate_terms(terms)
    get_contract(conn, service_id, contract_id)
    before = find_terms(conn, contract_id, method)
    if before == terms:
        raise Conflict("pg_method_unchanged", "The method already has these terms.")
    _store_terms(conn, contract_id, method, terms)
    conn.execute(
        update(pg_contracts).where(pg_contracts.c.id == contract_id).values(updated_at=now)
    )
    return before


def _store_terms(conn: Connection, contract_id: UUID, method: str, terms: MethodTerms) -> None:
    values = {
        "enabled": terms.enabled,
        "commission_bp": terms.commission_bp,
        "fixed_fee": terms.fixed_fee,
        "min_fee": terms.min_fee,
    }
    inserted = insert_if_absent(
        conn,
        pg_contract_methods,
        {"contract_id": contract_id, "method": method, **values},
        conflict_on=["contract_id", "method"],
    )
    if not inserted:
        conn.execute(
            update(pg_contract_methods)
            .where(
                pg_contract_methods.c.contract_id == contract_id,
                pg_contract_methods.c.method == method,
            )
            .values(**values)
        )


def reseal_secrets(conn: Connection, box: SecretBox, *, now: datetime) -> int:
    """Seal every stored secret again with the box's first key; returns the contracts done.

    Part of key rotation (see :mod:`coffer.payments.secrets`): afterwards the old key can go.
    """
    rows = conn.execute(
        select(pg_contracts.c.id, pg_contracts.c.secret_key_enc, pg_contracts.c.webhook_secret_enc)
    ).all()
    for contract_id, secret_enc, hook_enc in rows:
        conn.execute(
            update(pg_contracts)
            .where(pg_contracts.c.id == contract_id)
            .values(
                secret_key_enc=box.rotate(secret_enc),
                webhook_secret_enc=box.rotate(hook_enc),
                updated_at=now,
            )
        )
    return len(rows)
