"""The coupon pages (``/admin/coupons``): campaigns, their codes, issuing and inquiry
(``docs/coupons.md``).

Every route declares its permission: ``coupons.view`` to look and inquire, ``coupons.manage``
to create, activate, end, generate, export and revoke, ``coupons.issue`` to issue a code to a
member and cancel a redemption. Every change writes one audit row (``coupons.*``) in its
transaction.

- ``GET /admin/coupons`` → the chosen service's campaigns; ``GET /admin/coupons/{service}``
  (``?code=`` inquires a code), ``POST …/campaigns`` (create, as a draft);
- ``GET …/campaigns/{id}``; ``POST …/status`` (activate, end), ``…/generate``, ``…/revoke``,
  ``…/issue``; ``GET …/codes.csv``;
- ``POST /admin/coupons/{service}/redemptions/{id}/cancel``.
"""

from __future__ import annotations

from coffer.web.admin.coupons.pages import router

__all__ = ["router"]
