"""Tables owned by pricing: discount policies, charge events, their versions and what they gave.

A policy or event row holds what changes as it runs (status, the budget spent); its *rule*
(scope, conditions, effect, priority, stacking, caps) lives in an immutable version row, so a
past purchase or bonus shows the rule exactly as it was when it applied. Editing a rule writes
a new version; the row's ``version`` names the current one.

Budgets are enforced by the database: ``budget_spent`` only moves by a guarded UPDATE and a
CHECK keeps it within ``budget``, so concurrent purchases or charges never overspend it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

RULE_STATUSES = ("draft", "active", "ended")
USE_STATUSES = ("active", "released")


def _rule_table(name: str) -> Table:
    """A policy or event: name, status, current version and the budget it has spent."""
    return Table(
        name,
        metadata,
        Column("id", Id, primary_key=True),
        Column("service_id", Id, ForeignKey("services.id"), nullable=False, index=True),
        Column("name", String(200), nullable=False),
        Column("status", String(10), nullable=False),
        Column("version", Integer, nullable=False),
        # Total cash the rule may give (discounts or bonus); NULL: no budget.
        Column("budget", BigInteger, nullable=True),
        Column("budget_spent", BigInteger, nullable=False, default=0),
        Column("created_by", String(200), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("activated_at", UTCDateTime, nullable=True),
        Column("ended_at", UTCDateTime, nullable=True),
        CheckConstraint(f"status IN {RULE_STATUSES!r}", name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("budget IS NULL OR budget > 0", name="budget_positive"),
        CheckConstraint(
            "budget_spent >= 0 AND (budget IS NULL OR budget_spent <= budget)",
            name="budget_not_exceeded",
        ),
    )


def _version_table(name: str, parent: str, parent_table: str) -> Table:
    """The immutable rule of one version of a policy or event (JSON, read by ``model``)."""
    return Table(
        name,
        metadata,
        Column("id", Id, primary_key=True),
        Column(f"{parent}_id", Id, ForeignKey(f"{parent_table}.id"), nullable=False),
        Column("version", Integer, nullable=False),
        Column("rule", JSON, nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint(f"{parent}_id", "version"),
    )


discount_policies = _rule_table("discount_policies")
policy_versions = _version_table("policy_versions", "policy", "discount_policies")
bonus_events = _rule_table("bonus_events")
event_versions = _version_table("bonus_event_versions", "event", "bonus_events")

#: Each discount a policy gave on one purchase line. ``released`` when the line is cancelled:
#: the discount goes back to the budget and no longer counts as a use.
policy_uses = Table(
    "policy_uses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("policy_id", Id, ForeignKey("discount_policies.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("purchase_id", Id, nullable=False),
    Column("line_id", Id, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime, nullable=True),
    UniqueConstraint("policy_id", "line_id"),
    CheckConstraint("discount > 0", name="discount_positive"),
    CheckConstraint(f"status IN {USE_STATUSES!r}", name="status"),
)
Index("ix_policy_uses_member", policy_uses.c.policy_id, policy_uses.c.member_id)
Index("ix_policy_uses_line", policy_uses.c.line_id)

#: Bonus cash an event gave for one charge: the bonus lot, linked to the paid lot that earned
#: it, so that refunding the charge can claw the bonus back.
event_bonuses = Table(
    "event_bonuses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("event_id", Id, ForeignKey("bonus_events.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    # The charge (payments' id, as text: pricing sits below payments) and its paid lot.
    Column("charge_ref", String(64), nullable=False),
    Column("charge_amount", BigInteger, nullable=False),
    Column("paid_lot_id", Id, ForeignKey("lots.id"), nullable=False, index=True),
    Column("bonus_lot_id", Id, ForeignKey("lots.id"), nullable=False, unique=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("clawed_back", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "paid_lot_id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("clawed_back >= 0 AND clawed_back <= amount", name="clawed_back_in_range"),
)
Index("ix_event_bonuses_member", event_bonuses.c.event_id, event_bonuses.c.member_id)

#: Each claw-back of a bonus (one per refund), and its reversal if the PG refused the refund.
bonus_clawbacks = Table(
    "bonus_clawbacks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("bonus_id", Id, ForeignKey("event_bonuses.id"), nullable=False, index=True),
    Column("refund_ref", String(64), nullable=False, index=True),
    Column("journal_id", Id, ForeignKey("journals.id"), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("reversal_journal_id", Id, ForeignKey("journals.id"), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
)
