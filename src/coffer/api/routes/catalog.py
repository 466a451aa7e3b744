"""The catalog: menus (categories), content providers, products, packages and the time rate card.

Everything the admin catalog editor does, for services that sync their catalog from their own
systems, and the shop's reads (``/catalog/menu``). Catalog writes move no money, so they take no
``Idempotency-Key``; repeating a write gives the same result (a status change to the status a
product already has is a no-op) or a clear conflict (``sku_taken``).

A product is addressed by its id or by ``sku:<sku>`` (``/catalog/products/sku:gold-pass``).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from sqlalchemy.engine import Connection

from coffer.api.auth import CallerDep
from coffer.api.catalog_bodies import (
    CategoryCreate,
    CategoryMove,
    CategoryNodeOut,
    CategoryOut,
    CategoryTree,
    CategoryUpdate,
    ComponentList,
    ComponentsSet,
    MenuNodeOut,
    MenuOut,
    PlacementsOut,
    PlacementsSet,
    ProductCreate,
    ProductKind,
    ProductList,
    ProductOut,
    ProductStatus,
    ProductStatusChange,
    ProductUpdate,
    ProviderCreate,
    ProviderList,
    ProviderOut,
    ProviderUpdate,
    TimeRateOut,
    TimeRateSet,
)
from coffer.api.context import RuntimeDep
from coffer.api.fields import Cursor, Limit, object_id
from coffer.catalog import categories, packages, products, providers, time_rates
from coffer.catalog.model import Product

router = APIRouter(prefix="/catalog", tags=["catalog"])

SKU_PREFIX = "sku:"


def _category_id(value: str) -> UUID:
    return object_id(value, "category_not_found", "No such category in this service.")


def _cp_id(value: str) -> UUID:
    return object_id(value, "cp_not_found", "No such content provider in this service.")


def _product(conn: Connection, service_id: UUID, ref: str) -> Product:
    """The product a path names by id or by ``sku:<sku>``."""
    if ref.startswith(SKU_PREFIX):
        return products.product_by_sku(conn, service_id, ref.removeprefix(SKU_PREFIX))
    product_id = object_id(ref, "product_not_found", "No such product in this service.")
    return products.get_product(conn, service_id, product_id)


# --- categories -----------------------------------------------------------------------------


@router.get("/categories", response_model=CategoryTree)
def category_tree(caller: CallerDep, runtime: RuntimeDep) -> CategoryTree:
    """The whole menu tree, hidden categories included, children in order."""
    tree = runtime.db.read(lambda conn: categories.category_tree(conn, caller.service.id))
    return CategoryTree(data=[CategoryNodeOut.of_node(node) for node in tree])


@router.post("/categories", status_code=201, response_model=CategoryOut)
def create_category(body: CategoryCreate, caller: CallerDep, runtime: RuntimeDep) -> CategoryOut:
    """A new category under `parent_id` (top level when null) at `position` (default: last)."""
    category = runtime.db.write(
        lambda conn: categories.create_category(
            conn, caller.service.id, name_ko=body.name_ko, name_en=body.name_en,
            parent_id=body.parent_id, position=body.position, visible=body.visible,
            now=runtime.clock.now(),
        )
    )  # fmt: skip
    return CategoryOut.of(category)


@router.get("/categories/{category_id}", response_model=CategoryOut)
def get_category(category_id: str, caller: CallerDep, runtime: RuntimeDep) -> CategoryOut:
    cid = _category_id(category_id)
    return CategoryOut.of(
        runtime.db.read(lambda conn: categories.get_category(conn, caller.service.id, cid))
    )


@router.patch("/categories/{category_id}", response_model=CategoryOut)
def update_category(
    category_id: str, body: CategoryUpdate, caller: CallerDep, runtime: RuntimeDep
) -> CategoryOut:
    """Rename (either name or both) and/or show or hide (hiding hides the whole subtree)."""
    cid = _category_id(category_id)
    service_id, now = caller.service.id, runtime.clock.now()

    def change(conn: Connection) -> CategoryOut:
        current = categories.get_category(conn, service_id, cid)
        if body.name_ko is not None or body.name_en is not None:
            current = categories.rename_category(
                conn, service_id, cid, name_ko=body.name_ko or current.name_ko,
                name_en=body.name_en or current.name_en, now=now,
            )  # fmt: skip
        if body.visible is not None:
            current = categories.set_category_visible(conn, service_id, cid, body.visible, now=now)
        return CategoryOut.of(current)

    return runtime.db.write(change)


@router.post("/categories/{category_id}/move", response_model=CategoryOut)
def move_category(
    category_id: str, body: CategoryMove, caller: CallerDep, runtime: RuntimeDep
) -> CategoryOut:
    """Move a category with its subtree, or reorder it among its siblings (same parent).

    409 `category_cycle` when the new parent is inside the category's own subtree;
    422 `invalid_position` past the end of the new siblings.
    """
    cid = _category_id(category_id)
    category = runtime.db.write(
        lambda conn: categories.move_category(
            conn, caller.service.id, cid, parent_id=body.parent_id, position=body.position,
            now=runtime.clock.now(),
        )
    )  # fmt: skip
    return CategoryOut.of(category)


@router.delete("/categories/{category_id}", status_code=204, response_class=Response)
def delete_category(category_id: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Delete an empty category (409 `category_not_empty` while it has children or products)."""
    cid = _category_id(category_id)
    runtime.db.write(
        lambda conn: categories.delete_category(
            conn, caller.service.id, cid, now=runtime.clock.now()
        )
    )
    return Response(status_code=204)


# --- content providers ----------------------------------------------------------------------


@router.get("/providers", response_model=ProviderList)
def list_providers(caller: CallerDep, runtime: RuntimeDep) -> ProviderList:
    rows = runtime.db.read(lambda conn: providers.list_providers(conn, caller.service.id))
    return ProviderList(data=[ProviderOut.of(row) for row in rows])


@router.post("/providers", status_code=201, response_model=ProviderOut)
def create_provider(body: ProviderCreate, caller: CallerDep, runtime: RuntimeDep) -> ProviderOut:
    """A new, active content provider (409 `cp_name_taken`)."""
    provider = runtime.db.write(
        lambda conn: providers.create_provider(
            conn, caller.service.id, name=body.name, contact=body.contact, now=runtime.clock.now()
        )
    )
    return ProviderOut.of(provider)


@router.get("/providers/{cp_id}", response_model=ProviderOut)
def get_provider(cp_id: str, caller: CallerDep, runtime: RuntimeDep) -> ProviderOut:
    key = _cp_id(cp_id)
    return ProviderOut.of(
        runtime.db.read(lambda conn: providers.get_provider(conn, caller.service.id, key))
    )


@router.patch("/providers/{cp_id}", response_model=ProviderOut)
def update_provider(
    cp_id: str, body: ProviderUpdate, caller: CallerDep, runtime: RuntimeDep
) -> ProviderOut:
    """Change the name or contact, or the status (409 `cp_has_products_on_sale` when
    deactivating a CP whose products are on sale)."""
    key = _cp_id(cp_id)
    service_id, now = caller.service.id, runtime.clock.now()

    def change(conn: Connection) -> ProviderOut:
        provider = providers.update_provider(
            conn, service_id, key, name=body.name, contact=body.contact, now=now
        )
        if body.status is not None:
            provider = providers.set_provider_status(conn, service_id, key, body.status, now=now)
        return ProviderOut.of(provider)

    return runtime.db.write(change)


# --- products -------------------------------------------------------------------------------


@router.get("/products", response_model=ProductList)
def list_products(
    caller: CallerDep,
    runtime: RuntimeDep,
    kind: Annotated[ProductKind | None, Query()] = None,
    status: Annotated[ProductStatus | None, Query()] = None,
    category: Annotated[str | None, Query(description="A category id.")] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor | None, Query(description="`next_cursor` of the last page.")] = None,
) -> ProductList:
    """The service's products, oldest first, whatever their status."""
    service_id = caller.service.id
    category_id = None if category is None else _category_id(category)

    def read(conn: Connection) -> ProductList:
        if category_id is not None:
            categories.get_category(conn, service_id, category_id)
        rows = products.list_products(
            conn, service_id, kind=kind, status=status, category_id=category_id,
            after=cursor, limit=limit + 1,
        )  # fmt: skip
        page = rows[:limit]
        return ProductList(
            data=[ProductOut.of(p) for p in page],
            next_cursor=page[-1].id if len(rows) > limit else None,
        )

    return runtime.db.read(read)


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductCreate, caller: CallerDep, runtime: RuntimeDep) -> ProductOut:
    """A new product of any kind; see `docs/catalog.md` for the fields each kind uses.

    422 `missing_<field>`, `unexpected_field`, `invalid_price`, `invalid_sale_window`,
    `invalid_purchase_limit`; 404 `cp_not_found`; 409 `cp_inactive`, `sku_taken`.
    """
    product = runtime.db.write(
        lambda conn: products.create_product(
            conn, caller.service.id, body.given(), now=runtime.clock.now(), status=body.status
        )
    )
    return ProductOut.of(product)


@router.get("/products/{product}", response_model=ProductOut)
def get_product(product: str, caller: CallerDep, runtime: RuntimeDep) -> ProductOut:
    """A product by id or by `sku:<sku>`."""
    return ProductOut.of(runtime.db.read(lambda conn: _product(conn, caller.service.id, product)))


@router.patch("/products/{product}", response_model=ProductOut)
def update_product(
    product: str, body: ProductUpdate, caller: CallerDep, runtime: RuntimeDep
) -> ProductOut:
    """Change the fields sent (null clears an optional one); the kind cannot change."""
    service_id = caller.service.id

    def change(conn: Connection) -> ProductOut:
        current = _product(conn, service_id, product)
        return ProductOut.of(
            products.update_product(
                conn, service_id, current.id, body.given(), now=runtime.clock.now()
            )
        )

    return runtime.db.write(change)


@router.post("/products/{product}/status", response_model=ProductOut)
def set_product_status(
    product: str, body: ProductStatusChange, caller: CallerDep, runtime: RuntimeDep
) -> ProductOut:
    """`draft` → `on_sale` ⇄ `off_sale`; the current status again changes nothing.

    409 `invalid_status_change`, `cp_inactive`, `package_empty`.
    """
    service_id = caller.service.id

    def change(conn: Connection) -> ProductOut:
        current = _product(conn, service_id, product)
        return ProductOut.of(
            products.set_product_status(
                conn, service_id, current.id, body.status, now=runtime.clock.now()
            )
        )

    return runtime.db.write(change)


@router.get("/products/{product}/components", response_model=ComponentList)
def get_components(product: str, caller: CallerDep, runtime: RuntimeDep) -> ComponentList:
    def read(conn: Connection) -> ComponentList:
        package = _product(conn, caller.service.id, product)
        return ComponentList.of(products.package_components(conn, package.id))

    return runtime.db.read(read)


@router.put("/products/{product}/components", response_model=ComponentList)
def set_components(
    product: str, body: ComponentsSet, caller: CallerDep, runtime: RuntimeDep
) -> ComponentList:
    """Replace a package's components (no packages, nothing metered; 404
    `component_not_found` for a product not in this service)."""
    service_id = caller.service.id
    pairs = [(c.product_id, c.quantity) for c in body.components]

    def change(conn: Connection) -> ComponentList:
        package = _product(conn, service_id, product)
        return ComponentList.of(
            packages.set_package_components(
                conn, service_id, package.id, pairs, now=runtime.clock.now()
            )
        )

    return runtime.db.write(change)


@router.get("/products/{product}/categories", response_model=PlacementsOut)
def get_placements(product: str, caller: CallerDep, runtime: RuntimeDep) -> PlacementsOut:
    def read(conn: Connection) -> PlacementsOut:
        found = _product(conn, caller.service.id, product)
        return PlacementsOut(
            category_ids=categories.product_category_ids(conn, caller.service.id, found.id)
        )

    return runtime.db.read(read)


@router.put("/products/{product}/categories", response_model=PlacementsOut)
def set_placements(
    product: str, body: PlacementsSet, caller: CallerDep, runtime: RuntimeDep
) -> PlacementsOut:
    """Place the product in exactly these categories (appended at the end of new ones)."""
    service_id = caller.service.id

    def change(conn: Connection) -> PlacementsOut:
        found = _product(conn, service_id, product)
        ids = categories.set_product_categories(conn, service_id, found.id, body.category_ids)
        return PlacementsOut(category_ids=ids)

    return runtime.db.write(change)


# --- time rate card -------------------------------------------------------------------------


@router.get("/time-rate", response_model=TimeRateOut)
def get_time_rate(caller: CallerDep, runtime: RuntimeDep) -> TimeRateOut:
    rate = runtime.db.read(lambda conn: time_rates.get_rate(conn, caller.service.id))
    return TimeRateOut(cash_per_minute=rate)


@router.put("/time-rate", response_model=TimeRateOut)
def set_time_rate(body: TimeRateSet, caller: CallerDep, runtime: RuntimeDep) -> TimeRateOut:
    """How much cash buys one minute of play time."""
    runtime.db.write(
        lambda conn: time_rates.set_rate(
            conn, caller.service.id, body.cash_per_minute, runtime.clock.now()
        )
    )
    return TimeRateOut(cash_per_minute=body.cash_per_minute)


# --- the shop -------------------------------------------------------------------------------


@router.get("/menu", response_model=MenuOut)
def menu(caller: CallerDep, runtime: RuntimeDep) -> MenuOut:
    """The visible menu tree, each category with its products on sale now, in order."""
    service_id, now = caller.service.id, runtime.clock.now()

    def read(conn: Connection) -> MenuOut:
        tree = categories.category_tree(conn, service_id, visible_only=True)
        placed = products.on_sale_by_category(conn, service_id, now)
        return MenuOut(data=[MenuNodeOut.of(node, placed) for node in tree])

    return runtime.db.read(read)


@router.get("/menu/products", response_model=ProductList)
def products_on_sale(
    caller: CallerDep,
    runtime: RuntimeDep,
    category: Annotated[str | None, Query(description="A category id.")] = None,
) -> ProductList:
    """Products on sale now: all of them by sku, or one category's in its order."""
    service_id, now = caller.service.id, runtime.clock.now()
    category_id = None if category is None else _category_id(category)

    def read(conn: Connection) -> ProductList:
        if category_id is not None:
            categories.get_category(conn, service_id, category_id)
        found = products.products_on_sale(conn, service_id, now, category_id=category_id)
        return ProductList(data=[ProductOut.of(p) for p in found])

    return runtime.db.read(read)
