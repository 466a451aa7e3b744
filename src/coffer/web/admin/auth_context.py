"""The signed-in admin of a request, as every admin handler and template sees it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from coffer.admins.permissions import allowed


@dataclass(frozen=True, slots=True)
class AdminContext:
    admin_id: UUID
    email: str
    role: str
    csrf_token: str
    address: str
    session_id: UUID | None = None

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)

    @property
    def actor(self) -> str:
        """How journals and the audit log name this admin: ``admin:<email>``."""
        return f"admin:{self.email}"
