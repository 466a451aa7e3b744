"""The catalog editor (``/admin/catalog``): the menu tree, products of every kind, package
composition, content providers and the time rate card (``docs/catalog-admin.md``).

Every route declares its permission: ``catalog.view`` to look (operator, marketer, accountant,
viewer, cs), ``catalog.manage`` to change (operator, marketer). Every change calls the
catalog's own function and writes one audit row (``catalog.*``) in the same transaction.

- ``GET /admin/catalog`` → the chosen service's tree; ``GET /admin/catalog/{service}``: the tree,
  ``POST …/categories`` (add), ``…/categories/{id}/rename``, ``…/visibility``, ``…/move``
  (a new parent and position), ``…/step`` (up or down), ``…/delete`` (an empty one);
- ``GET …/products`` (filtered by kind, status, category), ``GET …/products/new?kind=``,
  ``POST …/products``; ``GET …/products/{id}``, ``POST`` (save), ``…/status``, ``…/categories``,
  ``…/components`` and ``…/components/remove`` (a package's contents);
- ``GET …/providers``, ``POST …/providers``, ``…/providers/{id}``, ``…/providers/{id}/status``;
- ``GET …/time-rate`` and ``POST …/time-rate``.
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.admin.catalog import package_page, product_pages, provider_pages, tree_page

router = APIRouter()
router.include_router(tree_page.router)
router.include_router(product_pages.router)
router.include_router(package_page.router)
router.include_router(provider_pages.router)
