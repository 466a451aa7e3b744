"""The menu tree ("service navigation"): categories, their order, and the products in them.

Siblings are ordered by ``position``, kept dense (0 … n-1) by every write: a category moved out
closes its gap, one moved in opens a place. Every write to a service's tree first locks all of
its categories (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write transactions are already
serial), so two concurrent moves cannot build a cycle or leave a gap. (Two first categories
created at once in an empty tree can share position 0: reads order ties by id, and the next
write at that level renumbers it.)

A product may sit in several categories (``product_categories``), with its own position in each,
dense the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from coffer.catalog import validation as check
from coffer.catalog.model import Category
from coffer.catalog.products import get_product
from coffer.catalog.tables import categories, product_categories
from coffer.kernel.errors import Conflict, InvalidInput, NotFound
from coffer.kernel.ids import uuid7

MAX_PLACEMENTS = 50


@dataclass(frozen=True, slots=True)
class CategoryNode:
    """A category with its children, in order."""

    category: Category
    children: tuple[CategoryNode, ...]


def _category(row: RowMapping) -> Category:
    return Category(**{field.name: row[field.name] for field in fields(Category)})


def _not_found() -> NotFound:
    return NotFound("category_not_found", "No such category in this service.")


def _order(items: Iterable[Category]) -> list[Category]:
    return sorted(items, key=lambda c: (c.position, c.id))


# --- reads ----------------------------------------------------------------------------------


def get_category(conn: Connection, service_id: UUID, category_id: UUID) -> Category:
    """A category of this service; another service's is as unknown as a missing one."""
    row = (
        conn.execute(
            select(categories).where(
                categories.c.id == category_id, categories.c.service_id == service_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _not_found()
    return _category(row)


def list_categories(conn: Connection, service_id: UUID, *, lock: bool = False) -> list[Category]:
    """Every category of the service, flat; ``lock`` holds them all until the transaction ends
    (how every tree write starts)."""
    query = select(categories).where(categories.c.service_id == service_id)
    rows = conn.execute(query.with_for_update() if lock else query).mappings()
    return _order(_category(row) for row in rows)


def build_tree(items: Iterable[Category], *, visible_only: bool = False) -> list[CategoryNode]:
    """The roots of a flat list, children ordered; a hidden category hides its whole subtree."""
    children: dict[UUID | None, list[Category]] = {}
    for item in _order(items):
        children.setdefault(item.parent_id, []).append(item)

    def nodes(parent_id: UUID | None) -> list[CategoryNode]:
        return [
            CategoryNode(item, tuple(nodes(item.id)))
            for item in children.get(parent_id, [])
            if item.visible or not visible_only
        ]

    return nodes(None)


def category_tree(
    conn: Connection, service_id: UUID, *, visible_only: bool = False
) -> list[CategoryNode]:
    return build_tree(list_categories(conn, service_id), visible_only=visible_only)


# --- writes ---------------------------------------------------------------------------------


def _in_tree(tree: Sequence[Category], category_id: UUID | None) -> Category | None:
    """The category from a locked tree (None for the root), or ``category_not_found``."""
    if category_id is None:
        return None
    for item in tree:
        if item.id == category_id:
            return item
    raise _not_found()


def _place(siblings: list[Category], position: object | None) -> int:
    """Where in ``siblings`` (which excludes the one being placed) it goes: the end by default."""
    if position is None:
        return len(siblings)
    return check.integer(position, "invalid_position", "position", 0, len(siblings))


def _renumber(conn: Connection, ordered: Sequence[Category], now: datetime) -> None:
    for position, item in enumerate(ordered):
        if item.position != position:
            conn.execute(
                update(categories)
                .where(categories.c.id == item.id)
                .values(position=position, updated_at=now)
            )


def create_category(
    conn: Connection,
    service_id: UUID,
    *,
    name_ko: str,
    name_en: str,
    parent_id: UUID | None = None,
    position: int | None = None,
    visible: bool = True,
    now: datetime,
) -> Category:
    """A new category under ``parent_id`` (None: the top level), at ``position`` (the end)."""
    names = {"name_ko": check.name(name_ko, "name_ko"), "name_en": check.name(name_en, "name_en")}
    shown = check.flag(visible, "invalid_visible", "visible")
    tree = list_categories(conn, service_id, lock=True)
    _in_tree(tree, parent_id)
    siblings = _order(c for c in tree if c.parent_id == parent_id)
    index = _place(siblings, position)
    category_id = uuid7()
    conn.execute(
        insert(categories).values(
            id=category_id,
            service_id=service_id,
            parent_id=parent_id,
            position=index,
            visible=shown,
            created_at=now,
            updated_at=now,
            **names,
        )
    )
    created = get_category(conn, service_id, category_id)
    _renumber(conn, [*siblings[:index], created, *siblings[index:]], now)
    return get_category(conn, service_id, category_id)


def rename_category(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    *,
    name_ko: str,
    name_en: str,
    now: datetime,
) -> Category:
    names = {"name_ko": check.name(name_ko, "name_ko"), "name_en": check.name(name_en, "name_en")}
    return _change(conn, service_id, category_id, names, now)


def set_category_visible(
    conn: Connection, service_id: UUID, category_id: UUID, visible: bool, *, now: datetime
) -> Category:
    """Show or hide a category; hiding it hides its subtree from the shop's menu."""
    shown = check.flag(visible, "invalid_visible", "visible")
    return _change(conn, service_id, category_id, {"visible": shown}, now)


def _change(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    values: Mapping[str, object],
    now: datetime,
) -> Category:
    current = get_category(conn, service_id, category_id)
    if any(getattr(current, name) != value for name, value in values.items()):
        conn.execute(
            update(categories)
            .where(categories.c.id == category_id)
            .values(**values, updated_at=now)
        )
    return get_category(conn, service_id, category_id)


def move_category(
    conn: Connection,
    service_id: UUID,
    category_id: UUID,
    *,
    parent_id: UUID | None,
    position: int | None = None,
    now: datetime,
) -> Category:
    """Move a category, with its subtree, under ``parent_id`` (None: the top level) at
    ``position`` (default: the end). The same parent with another position reorders siblings.

    409 ``category_cycle`` when the new parent is the category itself or inside its subtree;
    404 ``category_not_found`` for a parent of another service; 422 ``invalid_position``.
    """
    tree = list_categories(conn, service_id, lock=True)
    moved = _in_tree(tree, category_id)
    assert moved is not None
    _in_tree(tree, parent_id)
    if _is_within(tree, parent_id, category_id):
        raise Conflict("category_cycle", "A category cannot move into itself or its own subtree.")
    old = _order(c for c in tree if c.parent_id == moved.parent_id and c.id != category_id)
    new = (
        old if parent_id == moved.parent_id else _order(c for c in tree if c.parent_id == parent_id)
    )
    index = _place(new, position)
    if parent_id != moved.parent_id:
        conn.execute(
            update(categories)
            .where(categories.c.id == category_id)
            .values(parent_id=parent_id, updated_at=now)
        )
        _renumber(conn, old, now)
    _renumber(conn, [*new[:index], moved, *new[index:]], now)
    return get_category(conn, service_id, category_id)


def _is_within(tree: Sequence[Category], node_id: UUID | None, ancestor_id: UUID) -> bool:
    """Whether ``node_id`` is ``ancestor_id`` or below it."""
    parents = {item.id: item.parent_id for item in tree}
    while node_id is not None:
        if node_id == ancestor_id:
            return True
        node_id = parents[node_id]
    return False


def reorder_children(
    conn: Connection,
    service_id: UUID,
    parent_id: UUID | None,
    ordered_ids: Sequence[UUID],
    *,
    now: datetime,
) -> list[Category]:
    """Put all the children of ``parent_id`` in the given order (422 ``invalid_order`` unless
    ``ordered_ids`` names each of them exactly once)."""
    tree = list_categories(conn, service_id, lock=True)
    _in_tree(tree, parent_id)
    children = {c.id: c for c in tree if c.parent_id == parent_id}
    if len(ordered_ids) != len(children) or set(ordered_ids) != set(children):
        raise InvalidInput(
            "invalid_order", "Give every child of the category exactly once, in the new order."
        )
    _renumber(conn, [children[i] for i in ordered_ids], now)
    return _order(c for c in list_categories(conn, service_id) if c.parent_id == parent_id)


def delete_category(
    conn: Connection, service_id: UUID, category_id: UUID, *, now: datetime
) -> None:
    """Delete an empty category: 409 ``category_not_empty`` while it has subcategories or
    products."""
    tree = list_categories(conn, service_id, lock=True)
    doomed = _in_tree(tree, category_id)
    assert doomed is not None
    children = sum(1 for c in tree if c.parent_id == category_id)
    placed = conn.execute(
        select(func.count())
        .select_from(product_categories)
        .where(product_categories.c.category_id == category_id)
    ).scalar_one()
    if children or placed:
        raise Conflict(
            "category_not_empty",
            "Move or delete its subcategories and remove its products first.",
            {"children": children, "products": placed},
        )
    conn.execute(delete(categories).where(categories.c.id == category_id))
    siblings = (c for c in tree if c.parent_id == doomed.parent_id and c.id != category_id)
    _renumber(conn, _order(siblings), now)


# --- products in categories -----------------------------------------------------------------


def product_category_ids(conn: Connection, service_id: UUID, product_id: UUID) -> list[UUID]:
    """The categories a product is placed in (oldest category first)."""
    get_product(conn, service_id, product_id)
    rows = conn.execute(
        select(product_categories.c.category_id)
        .where(product_categories.c.product_id == product_id)
        .order_by(product_categories.c.category_id)
    ).scalars()
    return list(rows)


def _ancestors_query() -> Select[Any]:
    """(product, category) for each placement of ``:ids`` in ``:service_id``'s menus and each
    ancestor of those menus: a recursive walk up from the placements only."""
    pc = product_categories
    up = (
        select(pc.c.product_id, pc.c.category_id.label("category_id"))
        .join(categories, categories.c.id == pc.c.category_id)
        .where(
            pc.c.product_id.in_(bindparam("ids", expanding=True)),
            categories.c.service_id == bindparam("service_id"),
        )
        .cte("up", recursive=True)
    )
    parent, child = categories.alias("parent"), categories.alias("child")
    up = up.union(
        select(up.c.product_id, parent.c.id)
        .join(child, child.c.id == up.c.category_id)
        .join(parent, parent.c.id == child.c.parent_id)
    )
    return select(up.c.product_id, up.c.category_id)


#: Built once: priced on every purchase while a discount policy is live.
_ANCESTORS = _ancestors_query()


def ancestors_of_products(
    conn: Connection, service_id: UUID, product_ids: Iterable[UUID]
) -> dict[UUID, frozenset[UUID]]:
    """For each product, the categories it is placed in and all their ancestors (what a
    discount rule scoped to a menu subtree matches). Every product asked for has an entry
    (empty when it is placed nowhere); hidden categories count like visible ones.

    One recursive query walks up from the placements only, never reading the whole tree;
    ``UNION`` ends it even on a broken row that would make a cycle.
    """
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    placed: dict[UUID, set[UUID]] = {pid: set() for pid in wanted}
    rows = conn.execute(_ANCESTORS, {"ids": wanted, "service_id": service_id})
    for row in rows:
        placed[row.product_id].add(row.category_id)
    return {pid: frozenset(found) for pid, found in placed.items()}


def _placed(conn: Connection, category_id: UUID) -> list[UUID]:
    """The products of a category, in order."""
    rows = conn.execute(
        select(product_categories.c.product_id)
        .where(product_categories.c.category_id == category_id)
        .order_by(product_categories.c.position, product_categories.c.product_id)
    ).scalars()
    return list(rows)


def _write_placements(conn: Connection, category_id: UUID, ordered: Sequence[UUID]) -> None:
    """Store ``ordered`` as the category's products, positions 0 … n-1."""
    conn.execute(delete(product_categories).where(product_categories.c.category_id == category_id))
    if ordered:
        conn.execute(
            insert(product_categories),
            [
                {"product_id": pid, "category_id": category_id, "position": index}
                for index, pid in enumerate(ordered)
            ],
        )


def place_product(
    conn: Connection,
    service_id: UUID,
    product_id: UUID,
    category_id: UUID,
    *,
    position: int | None = None,
) -> list[UUID]:
    """Put a product in a category at ``position`` (default: the end; a product already there
    moves). Returns the category's products in order."""
    get_product(conn, service_id, product_id)
    _in_tree(list_categories(conn, service_id, lock=True), category_id)
    others = [pid for pid in _placed(conn, category_id) if pid != product_id]
    index = (
        len(others)
        if position is None
        else (check.integer(position, "invalid_position", "position", 0, len(others)))
    )
    ordered = [*others[:index], product_id, *others[index:]]
    _write_placements(conn, category_id, ordered)
    return ordered


def remove_product(
    conn: Connection, service_id: UUID, product_id: UUID, category_id: UUID
) -> list[UUID]:
    """Take a product out of a category (404 ``product_not_placed`` if it is not there)."""
    get_product(conn, service_id, product_id)
    _in_tree(list_categories(conn, service_id, lock=True), category_id)
    placed = _placed(conn, category_id)
    if product_id not in placed:
        raise NotFound("product_not_placed", "The product is not in that category.")
    ordered = [pid for pid in placed if pid != product_id]
    _write_placements(conn, category_id, ordered)
    return ordered


def set_product_categories(
    conn: Connection, service_id: UUID, product_id: UUID, category_ids: Sequence[UUID]
) -> list[UUID]:
    """Place a product in exactly these categories: added at the end of new ones, kept where it
    is in the others, removed from the rest. 404 ``category_not_found``; 422
    ``duplicate_category``, ``too_many_categories``."""
    if len(category_ids) > MAX_PLACEMENTS:
        raise InvalidInput(
            "too_many_categories", f"A product can be in at most {MAX_PLACEMENTS} categories."
        )
    if len(set(category_ids)) != len(category_ids):
        raise InvalidInput("duplicate_category", "A category is listed twice.")
    get_product(conn, service_id, product_id)
    tree = list_categories(conn, service_id, lock=True)
    for category_id in category_ids:
        _in_tree(tree, category_id)
    current = set(product_category_ids(conn, service_id, product_id))
    for category_id in current - set(category_ids):
        _write_placements(
            conn, category_id, [p for p in _placed(conn, category_id) if p != product_id]
        )
    for category_id in category_ids:
        if category_id not in current:
            _write_placements(conn, category_id, [*_placed(conn, category_id), product_id])
    return product_category_ids(conn, service_id, product_id)
