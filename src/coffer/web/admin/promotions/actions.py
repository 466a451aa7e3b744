"""Changes to policies and events from the admin web: the rule store's call, then one audit row.

Each function runs in the caller's transaction, so the change and its audit row (actions
``promotions.policy_create``, ``…_revise``, ``…_activate``, ``…_end`` and the same for
``event``) commit together or not at all. A refusal raises before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.audit import service as audit
from coffer.pricing.model import DiscountRule, EventRule
from coffer.pricing.versioned import RuleStore, Versioned
from coffer.web.admin.desk.operator import Operator

Rule = DiscountRule | EventRule


def _snapshot(found: Versioned[Any]) -> dict[str, Any]:
    return {
        "name": found.name,
        "status": found.status,
        "version": found.version,
        "budget": found.budget,
        "rule": found.rule.as_json(),
    }


def _record(
    conn: Connection, who: Operator, action: str, found: Versioned[Any], before: Any, now: datetime
) -> None:
    audit.record(
        conn,
        actor=who.audit_actor,
        action=action,
        target_type=action.split(".")[1].split("_")[0],
        target_id=str(found.id),
        service_id=found.service_id,
        before=before,
        after=_snapshot(found),
        reason="",
        address=who.address,
        now=now,
    )


def create(
    conn: Connection, store: RuleStore[Any], service_id: UUID, *, name: str,
    rule: dict[str, Any], budget: int | None, who: Operator, now: datetime,
) -> Versioned[Any]:  # fmt: skip
    made = store.create(
        conn, service_id, name=name, rule=rule, budget=budget, actor=who.audit_actor, now=now
    )
    _record(conn, who, f"promotions.{store.noun}_create", made, None, now)
    return made


def revise(
    conn: Connection, store: RuleStore[Any], service_id: UUID, rule_id: UUID, *, name: str,
    rule: dict[str, Any], budget: int | None, who: Operator, now: datetime,
) -> tuple[Versioned[Any], bool]:  # fmt: skip
    """The rule after, and whether anything changed (nothing changed: no audit row)."""
    before = store.get(conn, service_id, rule_id)
    after = store.revise(
        conn, service_id, rule_id, name=name, rule=rule, budget=budget,
        actor=who.audit_actor, now=now,
    )  # fmt: skip
    changed = (after.name, after.budget, after.version) != (
        before.name, before.budget, before.version,
    )  # fmt: skip
    if changed:
        _record(conn, who, f"promotions.{store.noun}_revise", after, _snapshot(before), now)
    return after, changed


def activate(
    conn: Connection, store: RuleStore[Any], service_id: UUID, rule_id: UUID, *,
    who: Operator, now: datetime,
) -> Versioned[Any]:  # fmt: skip
    after = store.activate(conn, service_id, rule_id, now=now)
    _record(conn, who, f"promotions.{store.noun}_activate", after, {"status": "draft"}, now)
    return after


def end(
    conn: Connection, store: RuleStore[Any], service_id: UUID, rule_id: UUID, *,
    who: Operator, now: datetime,
) -> Versioned[Any]:  # fmt: skip
    before = store.get(conn, service_id, rule_id)
    after = store.end(conn, service_id, rule_id, now=now)
    _record(conn, who, f"promotions.{store.noun}_end", after, {"status": before.status}, now)
    return after
