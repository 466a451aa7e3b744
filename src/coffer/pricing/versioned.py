"""Versioned rules: discount policies and charge events share one life cycle (docs/pricing.md).

- A rule is created as a ``draft`` at version 1. Editing it (name, rule, budget) writes a new
  immutable version; the row's ``version`` names the current one. A past purchase or bonus
  names the version it used, so it always shows the rule as it was.
- ``draft -> active`` (:meth:`RuleStore.activate`), ``draft | active -> ended``
  (:meth:`RuleStore.end`). An ended rule cannot be edited or activated again (``rule_ended``).
- The budget is spent by a guarded UPDATE (:meth:`RuleStore.spend`) under a CHECK, so
  concurrent purchases or charges can never take more than it holds. Callers that decide *how
  much* to take first lock the budgets they will use (:meth:`RuleStore.lock_budgets`, in id
  order, so two transactions never wait on each other in a cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Select, Table, bindparam, case, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7
from coffer.kernel.money import parse_amount
from coffer.kernel.text import is_storable_text
from coffer.pricing.model import DiscountRule, EventRule, parse_discount_rule, parse_event_rule
from coffer.pricing.tables import (
    RULE_STATUSES,
    bonus_events,
    discount_policies,
    event_versions,
    policy_versions,
)

NAME_MAX = 200
#: Parsed rule versions kept in memory per store (cleared when full).
PARSED_CACHE_SIZE = 4096

RuleT = TypeVar("RuleT", DiscountRule, EventRule)


@dataclass(frozen=True, slots=True)
class Versioned(Generic[RuleT]):
    """A policy or event as it is now: its current version's rule and its budget."""

    id: UUID
    service_id: UUID
    name: str
    status: str
    version: int
    rule: RuleT
    budget: int | None
    budget_spent: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None

    @property
    def budget_left(self) -> int | None:
        return None if self.budget is None else self.budget - self.budget_spent


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    rule: dict[str, Any]
    created_by: str
    created_at: datetime


def rule_name(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > NAME_MAX
        or not is_storable_text(value)
    ):
        raise InvalidInput("invalid_name", f"name must be 1-{NAME_MAX} characters.")
    return value.strip()


def rule_budget(value: object) -> int | None:
    """A budget in minor units (> 0), or None for no budget."""
    if value is None or value == "":
        return None
    return parse_amount(value, field="budget")


class RuleStore(Generic[RuleT]):
    """The SQL of one kind of versioned rule (policies or events)."""

    def __init__(
        self,
        table: Table,
        versions: Table,
        parent_column: str,
        parse: Callable[[object], RuleT],
        noun: str,
    ) -> None:
        self.table = table
        self.versions = versions
        self.parent = versions.c[parent_column]
        self.parse: Callable[[object], RuleT] = parse
        self.noun = noun
        self._cache: dict[tuple[UUID, int], RuleT] = {}
        self._live = (
            self._joined()
            .where(table.c.service_id == bindparam("service_id"), table.c.status == "active")
            .order_by(table.c.id.desc())
        )

    # --- reads ------------------------------------------------------------------------------

    def get(self, conn: Connection, service_id: UUID, rule_id: UUID) -> Versioned[RuleT]:
        """The rule with its current version; another service's is ``<noun>_not_found``."""
        found = self._select(conn, [rule_id], service_id)
        if not found:
            raise NotFound(f"{self.noun}_not_found", f"No such {self.noun} in this service.")
        return found[0]

    def listing(
        self, conn: Connection, service_id: UUID, status: str | None = None
    ) -> list[Versioned[RuleT]]:
        """The service's rules, newest first (``status``: only those)."""
        if status is not None and status not in RULE_STATUSES:
            raise InvalidInput("invalid_status", f"status must be one of {RULE_STATUSES}.")
        t = self.table
        query = self._joined().where(t.c.service_id == service_id)
        if status is not None:
            query = query.where(t.c.status == status)
        rows = conn.execute(query.order_by(t.c.id.desc())).mappings()
        return [self._record(row) for row in rows]

    def live(self, conn: Connection, service_id: UUID) -> list[Versioned[RuleT]]:
        """The service's active rules (their time windows are the engine's to check).

        Read by every purchase or charge: the statement is built once.
        """
        rows = conn.execute(self._live, {"service_id": service_id}).mappings()
        return [self._record(row) for row in rows]

    def history(self, conn: Connection, rule_id: UUID) -> list[Version]:
        """Every version of a rule, oldest first."""
        rows = conn.execute(
            select(self.versions).where(self.parent == rule_id).order_by(self.versions.c.version)
        ).mappings()
        return [Version(r["version"], r["rule"], r["created_by"], r["created_at"]) for r in rows]

    def at_version(self, conn: Connection, rule_id: UUID, version: int) -> RuleT:
        """The rule as it was at ``version`` (e.g. when a past purchase used it)."""
        row = conn.execute(
            select(self.versions.c.rule).where(
                self.parent == rule_id, self.versions.c.version == version
            )
        ).first()
        if row is None:
            raise NotFound(f"{self.noun}_not_found", f"No such {self.noun} version.")
        return self.parse(row[0])

    def _select(
        self, conn: Connection, ids: Sequence[UUID], service_id: UUID
    ) -> list[Versioned[RuleT]]:
        if not ids:
            return []
        query = self._joined().where(
            self.table.c.id.in_(ids), self.table.c.service_id == service_id
        )
        return [self._record(row) for row in conn.execute(query).mappings()]

    def _joined(self) -> Select[Any]:
        """Rules with their current version's rule."""
        t, v = self.table, self.versions
        return select(t, v.c.rule).join(v, (self.parent == t.c.id) & (v.c.version == t.c.version))

    def _parsed(self, rule_id: UUID, version: int, data: object) -> RuleT:
        """The rule of ``(rule_id, version)``, parsed once: versions never change, and the live
        rules are read by every purchase or charge."""
        key = (rule_id, version)
        found = self._cache.get(key)
        if found is None:
            found = self.parse(data)
            if len(self._cache) >= PARSED_CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _record(self, row: RowMapping) -> Versioned[RuleT]:
        return Versioned(
            id=row["id"], service_id=row["service_id"], name=row["name"], status=row["status"],
            version=row["version"], rule=self._parsed(row["id"], row["version"], row["rule"]),
            budget=row["budget"],
            budget_spent=row["budget_spent"], created_by=row["created_by"],
            created_at=row["created_at"], updated_at=row["updated_at"],
            activated_at=row["activated_at"], ended_at=row["ended_at"],
        )  # fmt: skip

    # --- writes -----------------------------------------------------------------------------

    def create(
        self,
        conn: Connection,
        service_id: UUID,
        *,
        name: object,
        rule: object,
        budget: object,
        actor: str,
        now: datetime,
    ) -> Versioned[RuleT]:
        """A new draft at version 1; everything is checked before anything is written."""
        clean_name, parsed, clean_budget = rule_name(name), self.parse(rule), rule_budget(budget)
        rule_id = uuid7()
        conn.execute(
            insert(self.table).values(
                id=rule_id, service_id=service_id, name=clean_name, status="draft", version=1,
                budget=clean_budget, budget_spent=0, created_by=actor, created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        self._write_version(conn, rule_id, 1, parsed, actor, now)
        return self.get(conn, service_id, rule_id)

    def revise(
        self,
        conn: Connection,
        service_id: UUID,
        rule_id: UUID,
        *,
        name: object,
        rule: object,
        budget: object,
        actor: str,
        now: datetime,
    ) -> Versioned[RuleT]:
        """Write the next version (name and budget change in place, the rule is versioned).

        A budget below what has been spent is ``budget_below_spent``.
        """
        current = self._locked(conn, service_id, rule_id)
        if current.status == "ended":
            raise Conflict("rule_ended", f"This {self.noun} has ended and cannot change.")
        clean_name, parsed, clean_budget = rule_name(name), self.parse(rule), rule_budget(budget)
        if clean_budget is not None and clean_budget < current.budget_spent:
            raise Conflict(
                "budget_below_spent",
                f"{current.budget_spent} of the budget is already spent.",
                {"budget_spent": current.budget_spent},
            )
        version = current.version
        if parsed != current.rule:
            version += 1
            self._write_version(conn, rule_id, version, parsed, actor, now)
        conn.execute(
            update(self.table)
            .where(self.table.c.id == rule_id)
            .values(name=clean_name, budget=clean_budget, version=version, updated_at=now)
        )
        return self.get(conn, service_id, rule_id)

    def activate(
        self, conn: Connection, service_id: UUID, rule_id: UUID, *, now: datetime
    ) -> Versioned[RuleT]:
        current = self._locked(conn, service_id, rule_id)
        if current.status != "draft":
            raise Conflict(
                "rule_not_draft", f"Only a draft {self.noun} can be activated.",
                {"status": current.status},
            )  # fmt: skip
        return self._move(conn, current, "active", now, activated_at=now)

    def end(
        self, conn: Connection, service_id: UUID, rule_id: UUID, *, now: datetime
    ) -> Versioned[RuleT]:
        current = self._locked(conn, service_id, rule_id)
        if current.status == "ended":
            raise Conflict("rule_ended", f"This {self.noun} has already ended.")
        return self._move(conn, current, "ended", now, ended_at=now)

    def lock_budgets(self, conn: Connection, ids: Iterable[UUID]) -> dict[UUID, int | None]:
        """Lock the rows of ``ids`` (in id order) and answer what each budget has left."""
        ordered = sorted(set(ids))
        if not ordered:
            return {}
        t = self.table
        rows = conn.execute(
            select(t.c.id, t.c.budget, t.c.budget_spent)
            .where(t.c.id.in_(ordered))
            .order_by(t.c.id)
            .with_for_update()
        )
        return {
            row.id: None if row.budget is None else row.budget - row.budget_spent for row in rows
        }

    def spend(self, conn: Connection, rule_id: UUID, amount: int, *, now: datetime) -> None:
        """Take ``amount`` from the budget, or ``<noun>_budget_spent`` (nothing taken).

        A rule without a budget is not touched: its row must not become a hot row that every
        purchase or charge it applies to updates (what it gave is summed from its uses).
        """
        t = self.table
        done = conn.execute(
            update(t)
            .where(
                t.c.id == rule_id,
                t.c.budget.is_not(None),
                t.c.budget_spent + amount <= t.c.budget,
            )
            .values(budget_spent=t.c.budget_spent + amount, updated_at=now)
        )
        if done.rowcount == 1:
            return
        budget = conn.execute(select(t.c.budget).where(t.c.id == rule_id)).scalar_one()
        if budget is not None:
            raise Conflict(f"{self.noun}_budget_spent", f"The {self.noun}'s budget is spent.")

    def give_back(self, conn: Connection, rule_id: UUID, amount: int, *, now: datetime) -> None:
        """Return ``amount`` to the budget (a cancelled purchase, a clawed-back bonus).

        Never below zero: what was given before the rule had a budget was never taken from it.
        """
        t = self.table
        conn.execute(
            update(t)
            .where(t.c.id == rule_id, t.c.budget.is_not(None))
            .values(
                budget_spent=case((t.c.budget_spent >= amount, t.c.budget_spent - amount), else_=0),
                updated_at=now,
            )
        )

    def _locked(self, conn: Connection, service_id: UUID, rule_id: UUID) -> Versioned[RuleT]:
        conn.execute(
            select(self.table.c.id).where(self.table.c.id == rule_id).with_for_update()
        ).first()
        return self.get(conn, service_id, rule_id)

    def _move(
        self, conn: Connection, current: Versioned[RuleT], status: str, now: datetime,
        **stamps: datetime,
    ) -> Versioned[RuleT]:  # fmt: skip
        conn.execute(
            update(self.table)
            .where(self.table.c.id == current.id)
            .values(status=status, updated_at=now, **stamps)
        )
        return self.get(conn, current.service_id, current.id)

    def _write_version(
        self, conn: Connection, rule_id: UUID, version: int, rule: RuleT, actor: str,
        now: datetime,
    ) -> None:  # fmt: skip
        conn.execute(
            insert(self.versions).values(
                {
                    "id": uuid7(), self.parent.name: rule_id, "version": version,
                    "rule": rule.as_json(), "created_by": actor, "created_at": now,
                }
            )
        )  # fmt: skip


#: Discount policies (error codes ``policy_not_found``, ``policy_budget_spent``).
POLICIES: RuleStore[DiscountRule] = RuleStore(
    discount_policies, policy_versions, "policy_id", parse_discount_rule, "policy"
)
#: Charge events (``event_not_found``, ``event_budget_spent``).
EVENTS: RuleStore[EventRule] = RuleStore(
    bonus_events, event_versions, "event_id", parse_event_rule, "event"
)
