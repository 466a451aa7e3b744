"""Discount policies and charge events (``/admin/promotions``; docs/promotions-admin.md).

``promotions.view`` to look (operator, marketer, accountant, viewer, cs); ``promotions.manage``
to create, edit, simulate, activate and end (operator, marketer). Every change writes one audit
row (``promotions.*``) in its transaction. Routes: :mod:`.pages` and :mod:`.simulate_page`.
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.promotions import pages, simulate_page

router = APIRouter()
# The simulation's route first: ``…/{id}/simulate`` must not be read as another page.
router.include_router(simulate_page.router)
router.include_router(pages.router)
