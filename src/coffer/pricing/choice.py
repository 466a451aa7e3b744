"""What the quote engine and the bonus engine share: which option wins, and how reasons read.

No I/O here. An *option* is one way of combining rules on one line (or one charge): an
exclusive rule alone, or every eligible stackable rule together. The winner is the option that
gives the member the most; on a tie, the option holding the higher priority, then the one
holding the smallest :class:`~coffer.pricing.model.RuleKey`. Keys are unique, so the choice is
a total order and never depends on the order the rules were handed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from coffer.pricing.model import RuleKey

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Option(Generic[T]):
    """One candidate: its total for the member, the rules' best priority and smallest key."""

    total: int
    max_priority: int
    first_key: RuleKey
    parts: T


def best(options: Iterable[Option[T]]) -> Option[T] | None:
    """The winning option (None when there is none): biggest total, higher priority, smaller key."""
    return min(options, key=lambda o: (-o.total, -o.max_priority, o.first_key), default=None)


def stacking_order(priority: int, key: RuleKey) -> tuple[int, RuleKey]:
    """Sort key for stacked rules: the highest priority first, then the smallest key."""
    return (-priority, key)


def money(amount: int) -> str:
    """An amount in minor units, with thousands separators: ``2,000``."""
    return f"{amount:,}"


def percent(bp: int) -> str:
    """Basis points as a percentage without trailing zeros: 1000 → ``10%``, 1250 → ``12.5%``."""
    whole, rest = divmod(bp, 100)
    if rest == 0:
        return f"{whole}%"
    return f"{whole}.{rest:02d}".rstrip("0") + "%"


def unique_keys(keys: Iterable[RuleKey]) -> None:
    """Refuse two rules with one key: the result could then depend on their order."""
    seen: set[RuleKey] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"Rule {key} was given twice.")
        seen.add(key)
