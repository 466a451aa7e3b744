"""The charge pages (``/admin/charges``): search a service's charges, open one, refund it.

Every route declares its permission: ``charges.view`` to look (operator, cs, accountant,
viewer), ``charges.refund`` to refund (operator, cs).

- ``GET /admin/charges``: search by member, status, method and "needs attention", 50 a page;
- ``GET /admin/charges/{service}/{charge}``: amounts, PG, state, virtual account, failure,
  the attention reason, the timeline and the refunds;
- ``POST /admin/charges/{service}/{charge}/refund``: refund part or all of the unspent cash,
  with a reason, one audit row (``charges.refund``) in the same transaction.
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.charges import charge_page, search_page

router = APIRouter()
router.include_router(search_page.router)
router.include_router(charge_page.router)
