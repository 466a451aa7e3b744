"""The admin acting on a desk page, as the domain records them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from coffer.web.admin.auth_context import AdminContext

#: Longest ``journals.actor`` the ledger stores.
JOURNAL_ACTOR_MAX = 200


@dataclass(frozen=True, slots=True)
class Operator:
    admin_id: UUID
    email: str
    address: str

    @classmethod
    def of(cls, ctx: AdminContext) -> Operator:
        return cls(ctx.admin_id, ctx.email, ctx.address)

    @property
    def audit_actor(self) -> str:
        """``admin:<email>``, as the rest of the admin web names admins."""
        return f"admin:{self.email}"

    @property
    def journal_actor(self) -> str:
        """As :attr:`audit_actor`, or ``admin:<id>`` for an email too long for a journal."""
        named = self.audit_actor
        return named if len(named) <= JOURNAL_ACTOR_MAX else f"admin:{self.admin_id}"
