"""Changes to PG administration from the admin web, each with one audit row (before/after).

Secrets never reach the audit log: a contract is recorded by its public fields and the hint of
its secret key, and a new webhook secret only as ``webhook_secret_replaced``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.payments import contracts, limits, routing
from coffer.payments.commissions import MethodTerms
from coffer.payments.contracts import Contract
from coffer.payments.limits import ChargeLimits
from coffer.payments.secrets import SecretBox
from coffer.web.admin.desk.operator import Operator


def _record(
    conn: Connection,
    who: Operator,
    action: str,
    service_id: UUID,
    target: tuple[str, str],
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    target_type, target_id = target
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        service_id=service_id,
        before=before,
        after=after,
        reason="",
        address=who.address,
        now=now,
    )


def public(contract: Contract) -> dict[str, Any]:
    """What the audit log keeps of a contract: everything but the secrets (the hint stays)."""
    return asdict(contract)


def _target(contract_id: UUID) -> tuple[str, str]:
    return "pg_contract", str(contract_id)


def create_contract(
    conn: Connection,
    service_id: UUID,
    fields: dict[str, Any],
    *,
    box: SecretBox,
    who: Operator,
    now: datetime,
) -> Contract:
    """``fields``: pg, name, merchant_id, base_url, client_key, secret_key, webhook_secret."""
    contract = contracts.create_contract(conn, service_id, box=box, now=now, **fields)
    _record(
        conn,
        who,
        "pg.contract_create",
        service_id,
        _target(contract.id),
        None,
        public(contract),
        now,
    )
    return contract


def update_contract(
    conn: Connection,
    service_id: UUID,
    contract_id: UUID,
    fields: dict[str, Any],
    *,
    box: SecretBox,
    who: Operator,
    now: datetime,
) -> Contract:
    """``fields``: name, merchant_id, base_url, client_key and, to replace them, the secrets."""
    before = contracts.get_contract(conn, service_id, contract_id)
    after = contracts.update_contract(conn, service_id, contract_id, box=box, now=now, **fields)
    replaced = bool((fields.get("webhook_secret") or "").strip())
    _record(
        conn,
        who,
        "pg.contract_update",
        service_id,
        _target(contract_id),
        public(before),
        {**public(after), "webhook_secret_replaced": replaced},
        now,
    )
    return after


def set_status(
    conn: Connection,
    service_id: UUID,
    contract_id: UUID,
    status: str,
    *,
    who: Operator,
    now: datetime,
) -> Contract:
    before = contracts.get_contract(conn, service_id, contract_id)
    after = contracts.set_status(conn, service_id, contract_id, status, now=now)
    _record(
        conn,
        who,
        "pg.contract_status",
        service_id,
        _target(contract_id),
        {"status": before.status},
        {"status": after.status},
        now,
    )
    return after


def set_method(
    conn: Connection,
    service_id: UUID,
    contract_id: UUID,
    method: str,
    terms: MethodTerms,
    *,
    who: Operator,
    now: datetime,
) -> None:
    before = contracts.set_method(conn, service_id, contract_id, method, terms, now=now)
    _record(
        conn,
        who,
        "pg.method_set",
        service_id,
        ("pg_contract_method", f"{contract_id}:{method}"),
        None if before is None else asdict(before),
        asdict(terms),
        now,
    )


def set_routes(
    conn: Connection,
    service_id: UUID,
    method: str,
    contract_ids: list[UUID],
    *,
    who: Operator,
    now: datetime,
) -> None:
    before = routing.set_routes(conn, service_id, method, contract_ids, now)
    _record(
        conn,
        who,
        "pg.routes_set",
        service_id,
        ("pg_route", method),
        {"order": before},
        {"order": contract_ids},
        now,
    )


def set_limits(
    conn: Connection,
    service_id: UUID,
    method: str,
    value: ChargeLimits,
    *,
    who: Operator,
    now: datetime,
) -> None:
    before = limits.set_limits(conn, service_id, method, value, now=now)
    _record(
        conn,
        who,
        "pg.limits_set",
        service_id,
        ("charge_limits", method),
        None if before is None else asdict(before),
        asdict(value),
        now,
    )


def clear_limits(
    conn: Connection, service_id: UUID, method: str, *, who: Operator, now: datetime
) -> None:
    before = limits.clear_limits(conn, service_id, method)
    _record(
        conn,
        who,
        "pg.limits_clear",
        service_id,
        ("charge_limits", method),
        asdict(before),
        None,
        now,
    )
