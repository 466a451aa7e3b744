"""The menu tree of a service: nested categories, added, renamed, shown or hidden, moved with
their subtree (a new parent and a position), reordered among siblings, and deleted when empty.

Positions are 1-based on the page (1 = first) and 0-based in the catalog. Every change is one
transaction with its audit row; a refusal shows the tree again with the message next to the
field of the form that was sent (its ``<details>`` open), and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.catalog import categories
from coffer.catalog.categories import CategoryNode
from coffer.catalog.model import Category
from coffer.catalog.shop_queries import placement_counts
from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.catalog import actions
from coffer.web.admin.catalog.common import (
    CatalogManage,
    CatalogView,
    catalog_page,
    flat_tree,
    not_found_page,
    object_or_404,
    refusal,
    tree_url,
)
from coffer.web.admin.desk.common import (
    done,
    form_values,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, Gettext, choice, text
from coffer.web.admin.desk.operator import Operator

router = APIRouter()

DIRECTIONS = ("up", "down")


@dataclass
class TreeView:
    services: list[Service]
    service: Service
    tree: list[CategoryNode]
    counts: dict[UUID, int]
    flat: list[tuple[Category, int]]
    #: Each category's own id and those of its whole subtree (where it cannot move to).
    subtree: dict[UUID, set[UUID]] = field(default_factory=dict)
    siblings: dict[UUID | None, int] = field(default_factory=dict)

    def targets(self, category: Category) -> list[tuple[Category, int]]:
        """Where ``category`` may move: every category outside its own subtree."""
        barred = self.subtree.get(category.id, {category.id})
        return [(c, depth) for c, depth in self.flat if c.id not in barred]


def _subtrees(nodes: list[CategoryNode], found: dict[UUID, set[UUID]]) -> set[UUID]:
    ids: set[UUID] = set()
    for node in nodes:
        below = _subtrees(list(node.children), found)
        found[node.category.id] = {node.category.id, *below}
        ids |= found[node.category.id]
    return ids


def load_tree(conn: Connection, service_id: str) -> TreeView:
    service = service_or_404(conn, service_id)
    tree = categories.category_tree(conn, service.id)
    flat = flat_tree(tree)
    view = TreeView(
        tenancy.list_services(conn), service, tree, placement_counts(conn, service.id), flat
    )
    _subtrees(tree, view.subtree)
    for category, _depth in flat:
        view.siblings[category.parent_id] = view.siblings.get(category.parent_id, 0) + 1
    return view


@router.get("/catalog")
async def catalog_home(request: Request, ctx: CatalogView, service: str | None = None) -> Response:
    """The catalog of the chosen service (``?service=``), else of the first one."""
    services = await read(request, tenancy.list_services)
    chosen = pick_service(services, service)
    if chosen is None:
        return catalog_page(request, ctx, "admin/catalog/no_services.html", {})
    return RedirectResponse(tree_url(chosen.id), status_code=303)


async def show_tree(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    *,
    forms: dict[str, FormState] | None = None,
    flashes: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        view = await read(request, lambda conn: load_tree(conn, service_id))
    except NotFound as error:
        return not_found_page(request, ctx, error)
    context: dict[str, Any] = {"view": view, "tab": "tree", "forms": forms or {}}
    if flashes is not None:
        context["flashes"] = flashes
    return catalog_page(request, ctx, "admin/catalog/tree.html", context, status_code)


@router.get("/catalog/{service_id}")
async def tree_page(request: Request, ctx: CatalogView, service_id: str) -> HTMLResponse:
    return await show_tree(request, ctx, service_id)


def _parent(raw: str, _: Gettext) -> UUID | None:
    """The parent chosen in a form: '' is the top level."""
    if not raw.strip():
        return None
    try:
        return UUID(raw.strip())
    except ValueError:
        raise FormError("parent_id", _("Choose one of the options.")) from None


def _position(raw: str, _: Gettext) -> int | None:
    """A 1-based position typed on the page as the catalog's 0-based one ('' is the end)."""
    value = raw.strip()
    if not value:
        return None
    if not value.isdigit() or not value.isascii() or len(value) > 6 or int(value) < 1:
        raise FormError("position", _("Enter a whole number from 1, or leave it empty."))
    return int(value) - 1


#: (conn, service id, translate) -> the success message.
Perform = Callable[[Connection, UUID, Gettext], str]


async def _act(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    form: str,
    values: dict[str, Any],
    perform: Perform,
) -> Response:
    _ = translator(request)

    def work(conn: Connection) -> str:
        return perform(conn, service_or_404(conn, service_id).id, _)

    try:
        message = await write(request, work)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code == "service_not_found":
            return not_found_page(request, ctx, error)
        bad, status = refusal(error, _)
        if isinstance(error, NotFound) and form.startswith(("create", "move-")):
            bad = FormError("parent_id", bad.message)  # the parent chosen in the form
        return await _refused(request, ctx, service_id, form, values, bad, status)
    return done(tree_url(service_id), message)


async def _refused(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    form: str,
    values: dict[str, Any],
    error: FormError,
    status: int,
) -> Response:
    return await show_tree(
        request,
        ctx,
        service_id,
        forms={form: FormState.failed(values, error)},
        flashes=[{"kind": "error", "text": error.message}],
        status_code=status,
    )


def _category_id(raw: str) -> UUID:
    return object_or_404(raw, "category_not_found", "No such category in this service.")


@router.post("/catalog/{service_id}/categories")
async def create_category(request: Request, ctx: CatalogManage, service_id: str) -> Response:
    """A new category under the chosen parent (top level by default), at the end or a position."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        made = actions.create_category(
            conn, sid, name_ko=text(values, "name_ko"), name_en=text(values, "name_en"),
            parent_id=_parent(text(values, "parent_id"), _),
            position=_position(text(values, "position"), _), who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Category %(name)s added.") % {"name": made.name_en}

    return await _act(request, ctx, service_id, "create", values, perform)


@router.post("/catalog/{service_id}/categories/{category_id}/rename")
async def rename_category(
    request: Request, ctx: CatalogManage, service_id: str, category_id: str
) -> Response:
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        actions.rename_category(
            conn, sid, _category_id(category_id), name_ko=text(values, "name_ko"),
            name_en=text(values, "name_en"), who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Category renamed.")

    return await _act(request, ctx, service_id, f"rename-{category_id}", values, perform)


@router.post("/catalog/{service_id}/categories/{category_id}/visibility")
async def set_visibility(
    request: Request, ctx: CatalogManage, service_id: str, category_id: str
) -> Response:
    """Show or hide a category (hiding it hides its whole subtree from the shop)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        shown = choice(text(values, "visible"), ("true", "false"), _, name="visible") == "true"
        actions.set_category_visible(
            conn, sid, _category_id(category_id), shown, who=Operator.of(ctx), now=now
        )
        return _("Category shown in the shop.") if shown else _("Category hidden from the shop.")

    return await _act(request, ctx, service_id, f"visibility-{category_id}", values, perform)


@router.post("/catalog/{service_id}/categories/{category_id}/move")
async def move_category(
    request: Request, ctx: CatalogManage, service_id: str, category_id: str
) -> Response:
    """Move a category, with its subtree, under a new parent at a position (default: last)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        actions.move_category(
            conn, sid, _category_id(category_id),
            parent_id=_parent(text(values, "parent_id"), _),
            position=_position(text(values, "position"), _), who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Category moved.")

    return await _act(request, ctx, service_id, f"move-{category_id}", values, perform)


@router.post("/catalog/{service_id}/categories/{category_id}/step")
async def step_category(
    request: Request, ctx: CatalogManage, service_id: str, category_id: str
) -> Response:
    """One place up or down among its siblings (unchanged at either end)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        direction = choice(text(values, "direction"), DIRECTIONS, _, name="direction")
        current = categories.get_category(conn, sid, _category_id(category_id))
        count = sum(
            1 for c in categories.list_categories(conn, sid) if c.parent_id == current.parent_id
        )
        target = current.position + (-1 if direction == "up" else 1)
        if not 0 <= target < count:
            return _("Nothing changed.")
        actions.move_category(
            conn, sid, current.id, parent_id=current.parent_id, position=target,
            who=Operator.of(ctx), now=now,
        )  # fmt: skip
        return _("Order saved.")

    return await _act(request, ctx, service_id, f"step-{category_id}", values, perform)


@router.post("/catalog/{service_id}/categories/{category_id}/delete")
async def delete_category(
    request: Request, ctx: CatalogManage, service_id: str, category_id: str
) -> Response:
    """Delete an empty category (no subcategories, no products)."""
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection, sid: UUID, _: Gettext) -> str:
        gone = actions.delete_category(
            conn, sid, _category_id(category_id), who=Operator.of(ctx), now=now
        )
        return _("Category %(name)s deleted.") % {"name": gone.name_en}

    return await _act(request, ctx, service_id, f"delete-{category_id}", values, perform)
