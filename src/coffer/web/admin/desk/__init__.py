"""The admin pages for daily work: dashboard, members (the CS desk), approvals, services.

Every route declares its permission with :func:`coffer.web.admin.auth.require`:

- ``GET /admin`` (dashboard.view): today's figures and the last 14 days of one service;
- ``GET /admin/members`` (members.view): search; ``GET /admin/members/{service}/{external_id}``
  and its ``/history`` fragment (members.view); POST ``…/grant`` (cash.grant), ``…/revoke``
  (cash.revoke), ``…/reverse`` (cash.reverse), ``…/release-hold`` (holds.release),
  ``…/status`` (members.status);
- ``GET /admin/approvals`` (approvals.view); POST ``/admin/approvals/{id}/approve`` and
  ``…/reject`` (approvals.decide);
- ``GET /admin/services`` and ``/admin/services/{id}`` (services.view); POST ``…/keys`` and
  ``…/keys/{prefix}/revoke`` (services.keys); ``…/settings`` and ``…/webhook-secret``
  (services.settings).
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.desk import approvals, dashboard, member_actions, members, services

router = APIRouter()
router.include_router(dashboard.router)
router.include_router(members.router)
router.include_router(member_actions.router)
router.include_router(approvals.router)
router.include_router(services.router)
