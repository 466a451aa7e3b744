"""The PG administration pages (``/admin/pg``): contracts, methods, routing, limits, health.

Every route declares its permission: ``pg.view`` to look (operator, accountant, viewer),
``pg.manage`` to change (operator). Every change writes one audit row in its own transaction.

- ``GET /admin/pg`` → the chosen service's page; ``GET /admin/pg/{service}``: its contracts with
  their breakers, and ``POST …/contracts`` to create one;
- ``GET /admin/pg/{service}/contracts/{id}``: edit (``POST`` same path), ``…/status``,
  ``…/methods/{method}`` (commission), and the breaker's figures;
- ``GET /admin/pg/{service}/routing`` and ``POST …/routing/{method}`` (move up or down);
- ``GET /admin/pg/{service}/limits`` and ``POST …/limits/{method}`` (save or clear).
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.pg import contract_pages, limits_page, routing_page

router = APIRouter()
router.include_router(contract_pages.router)
router.include_router(routing_page.router)
router.include_router(limits_page.router)
