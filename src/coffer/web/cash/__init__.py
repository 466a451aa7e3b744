"""The member cash web (``/cash``): a member's balance and history, reached by a signed link.

- ``entry``: ``/cash/enter`` (the signed link), ``/cash/logout``, ``/cash/bye``;
- ``pages``: ``/cash`` (balance and history), ``/cash/lots`` ("my cash"), ``/cash/live/*``;
- ``charging``: ``/cash/charge`` (buy cash through a PG), ``/cash/charges`` (my charges, refunds);
- ``shop``: ``/cash/shop`` (the menu, products, buying with cash), ``/cash/items`` ("my items");
- ``coupons``: ``/cash/coupons`` (redeem a code, the member's coupons);
- ``problems``: refusals as pages, and the catch-all for unknown addresses (included last).

Later capabilities add their own routers here and their tabs to
``templates/cash/layout.html`` (see ``docs/cash-web.md``).
"""

from __future__ import annotations

from fastapi import APIRouter

from coffer.web.cash import charging, coupons, entry, pages, problems, shop

PREFIX = "/cash"

router = APIRouter(include_in_schema=False)
# The catch-all for unknown addresses stays last.
for part in (
    entry.router,
    pages.router,
    charging.router,
    shop.router,
    coupons.router,
    problems.fallback,
):
    router.include_router(part, prefix=PREFIX, include_in_schema=False)
