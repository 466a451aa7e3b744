"""Tables owned by grades: the rules that set a member's grade, overrides and history.

A member's current grade stays on ``members.grade`` (tenancy); this package decides it. A
rule says "paid charges over the last ``window_days`` days of at least ``min_paid``"; the
highest ``rank`` a member meets wins, and the rule with ``min_paid = 0`` is the base grade.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from coffer.db.metadata import Id, UTCDateTime, metadata

GRADE_SOURCES = ("rule", "override", "override_ended", "admin", "api")

grade_rules = Table(
    "grade_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("grade", String(40), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("min_paid", BigInteger, nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("service_id", "grade"),
    UniqueConstraint("service_id", "rank"),
    CheckConstraint("min_paid >= 0", name="min_paid_not_negative"),
    CheckConstraint("window_days BETWEEN 1 AND 3660", name="window_days_range"),
)

#: A grade an operator set by hand; the daily job leaves the member alone until ``until``.
grade_overrides = Table(
    "grade_overrides",
    metadata,
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("grade", String(40), nullable=False),
    Column("until", UTCDateTime, nullable=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

grade_history = Table(
    "grade_history",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("from_grade", String(40), nullable=False),
    Column("to_grade", String(40), nullable=False),
    Column("source", String(20), nullable=False),
    # What decided it: the paid total for a rule, the reason for an override.
    Column("detail", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    CheckConstraint(f"source IN {GRADE_SOURCES!r}", name="source"),
)
Index("ix_grade_history_member", grade_history.c.member_id, grade_history.c.at)
