"""Products: the list (filtered by kind, status and category), a new product of any kind, and a
product's page: its form (only the fields its kind uses), status actions, placement in menu
categories and, for a package, its composition (:mod:`.package_page`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from coffer.catalog import categories, products, providers
from coffer.catalog.model import Category, ContentProvider, Product
from coffer.catalog.tables import PRODUCT_KINDS, PRODUCT_STATUSES, UNIT_NAMES
from coffer.kernel.errors import CofferError, NotFound
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.catalog import actions, product_form
from coffer.web.admin.catalog.common import (
    CatalogManage,
    CatalogView,
    catalog_page,
    category_choices,
    not_found_page,
    object_or_404,
    product_url,
    refusal,
)
from coffer.web.admin.desk.common import (
    done,
    form_values,
    parse_id,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, FormState, choice, text
from coffer.web.admin.desk.operator import Operator

router = APIRouter()

PAGE = 50


@dataclass(frozen=True, slots=True)
class ListFilter:
    kind: str = ""
    status: str = ""
    category: UUID | None = None

    @classmethod
    def of(cls, params: dict[str, str]) -> ListFilter:
        """The filter of the query string; values that are not options are ignored."""
        kind = params.get("kind", "")
        status = params.get("status", "")
        return cls(
            kind if kind in PRODUCT_KINDS else "",
            status if status in PRODUCT_STATUSES else "",
            parse_id(params.get("category")),
        )

    def query(self, **extra: str) -> str:
        values = {
            "kind": self.kind,
            "status": self.status,
            "category": str(self.category or ""),
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True, slots=True)
class ListView:
    service: Service
    products: list[Product]
    providers: dict[UUID, ContentProvider]
    categories: list[tuple[Category, int]]
    next_after: UUID | None


@router.get("/catalog/{service_id}/products")
async def product_list(request: Request, ctx: CatalogView, service_id: str) -> HTMLResponse:
    """Products oldest first, 50 a page (``after``), filtered by kind, status and category."""
    params = dict(request.query_params)
    chosen = ListFilter.of(params)
    after = parse_id(params.get("after"))

    def load(conn: Connection) -> ListView:
        service = service_or_404(conn, service_id)
        found = products.list_products(
            conn, service.id, kind=chosen.kind or None, status=chosen.status or None,
            category_id=chosen.category, after=after, limit=PAGE + 1,
        )  # fmt: skip
        page = found[:PAGE]
        return ListView(
            service,
            page,
            {cp.id: cp for cp in providers.list_providers(conn, service.id)},
            category_choices(conn, service.id),
            page[-1].id if len(found) > PAGE else None,
        )

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    return catalog_page(
        request,
        ctx,
        "admin/catalog/products.html",
        {
            "view": view,
            "listing": chosen,
            "kinds": PRODUCT_KINDS,
            "statuses": PRODUCT_STATUSES,
            "tab": "products",
        },
    )


@dataclass(frozen=True, slots=True)
class FormView:
    """What the product form needs: the service, its CPs and its categories."""

    service: Service
    providers: list[ContentProvider]
    categories: list[tuple[Category, int]]


def _form_context(view: FormView, kind: str, state: FormState) -> dict[str, Any]:
    return {
        "kind": kind,
        "fields": product_form.form_fields(kind),
        "unit_names": UNIT_NAMES,
        "form": state,
        "tab": "products",
    }


async def show_new(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    kind: str,
    *,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    def load(conn: Connection) -> FormView:
        service = service_or_404(conn, service_id)
        return FormView(
            service, providers.list_providers(conn, service.id), category_choices(conn, service.id)
        )

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    context: dict[str, Any] = {"view": view, "kinds": PRODUCT_KINDS, "tab": "products"}
    if kind in PRODUCT_KINDS:
        context.update(_form_context(view, kind, state or FormState(product_form.blank(kind))))
    if state is not None and state.errors:
        context["flashes"] = [{"kind": "error", "text": next(iter(state.errors.values()))}]
    return catalog_page(request, ctx, "admin/catalog/product_new.html", context, status_code)


@router.get("/catalog/{service_id}/products/new")
async def new_product(
    request: Request, ctx: CatalogManage, service_id: str, kind: str = ""
) -> HTMLResponse:
    """Choose a kind, then the form with that kind's fields."""
    return await show_new(request, ctx, service_id, kind)


@router.post("/catalog/{service_id}/products")
async def create_product(request: Request, ctx: CatalogManage, service_id: str) -> Response:
    """A new product (a draft, put on sale from its page); placed in the categories ticked."""
    _ = translator(request)
    values = await form_values(request)
    form = await request.form()
    placed = [str(v) for v in form.getlist("categories")]
    now = runtime(request).clock.now()
    kind = text(values, "kind")

    def perform(conn: Connection) -> Product:
        service = service_or_404(conn, service_id)
        chosen = choice(kind, PRODUCT_KINDS, _, name="kind")
        spec = product_form.new_product(values, chosen, service.currency, service.timezone, _)
        who = Operator.of(ctx)
        made = actions.create_product(conn, service.id, spec, who=who, now=now)
        wanted = [_category(raw, _) for raw in placed]
        if wanted:
            actions.set_product_categories(conn, service.id, made.id, wanted, who=who, now=now)
        return made

    try:
        made = await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code == "service_not_found":
            return not_found_page(request, ctx, error)
        bad, status = refusal(error, _)
        return await show_new(
            request, ctx, service_id, kind, state=FormState.failed(values, bad), status_code=status
        )
    return done(
        product_url(service_id, made.id),
        _("Product %(sku)s created as a draft.") % {"sku": made.sku},
    )


def _category(raw: str, _: Any) -> UUID:
    found = parse_id(raw)
    if found is None:
        raise FormError("categories", _("Choose one of the options."))
    return found


@dataclass(frozen=True, slots=True)
class ProductView:
    service: Service
    product: Product
    providers: list[ContentProvider]
    categories: list[tuple[Category, int]]
    placed: list[UUID]
    components: list[tuple[Product, int]]
    #: Products a package may contain (not packages, not metered), for the "add" form.
    candidates: list[Product]

    @property
    def provider(self) -> ContentProvider | None:
        return next((p for p in self.providers if p.id == self.product.cp_id), None)


def _product_id(raw: str) -> UUID:
    return object_or_404(raw, "product_not_found", "No such product in this service.")


def load_product(conn: Connection, service_id: str, product_id: str) -> ProductView:
    service = service_or_404(conn, service_id)
    product = products.get_product(conn, service.id, _product_id(product_id))
    components: list[tuple[Product, int]] = []
    candidates: list[Product] = []
    if product.kind == "package":
        components = products.package_components(conn, product.id)
        candidates = [
            p
            for p in products.list_products(conn, service.id)
            if p.kind not in ("package", "metered")
        ]
    return ProductView(
        service,
        product,
        providers.list_providers(conn, service.id),
        category_choices(conn, service.id),
        categories.product_category_ids(conn, service.id, product.id),
        components,
        candidates,
    )


async def show_product(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    product_id: str,
    *,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        view = await read(request, lambda conn: load_product(conn, service_id, product_id))
    except NotFound as error:
        return not_found_page(request, ctx, error)
    product = view.product
    states = dict(forms or {})
    edit = states.get("product") or FormState(
        product_form.shown(product, view.service.currency, view.service.timezone)
    )
    context = {
        "view": view,
        **_form_context(
            FormView(view.service, view.providers, view.categories), product.kind, edit
        ),
        "forms": states,
    }
    failed = [message for state in states.values() for message in state.errors.values()]
    if failed:
        context["flashes"] = [{"kind": "error", "text": failed[0]}]
    return catalog_page(request, ctx, "admin/catalog/product.html", context, status_code)


@router.get("/catalog/{service_id}/products/{product_id}")
async def product_page(
    request: Request, ctx: CatalogView, service_id: str, product_id: str
) -> HTMLResponse:
    return await show_product(request, ctx, service_id, product_id)


async def product_refused(
    request: Request,
    ctx: AdminContext,
    service_id: str,
    product_id: str,
    form: str,
    values: dict[str, Any],
    error: FormError | CofferError,
) -> Response:
    """The product page again with the form's error, or a 404 page for a missing product."""
    _ = translator(request)
    if isinstance(error, NotFound) and error.code in ("service_not_found", "product_not_found"):
        return not_found_page(request, ctx, error)
    bad, status = refusal(error, _)
    return await show_product(
        request,
        ctx,
        service_id,
        product_id,
        forms={form: FormState.failed(values, bad)},
        status_code=status,
    )


@router.post("/catalog/{service_id}/products/{product_id}")
async def update_product(
    request: Request, ctx: CatalogManage, service_id: str, product_id: str
) -> Response:
    """Save the product's form (only the fields that differ from what the page showed)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> bool:
        service = service_or_404(conn, service_id)
        current = products.get_product(conn, service.id, _product_id(product_id))
        wanted = product_form.changes(values, current, service.currency, service.timezone, _)
        _after, changed = actions.update_product(
            conn, service.id, current.id, wanted, who=Operator.of(ctx), now=now
        )
        return changed

    try:
        changed = await write(request, perform)
    except (FormError, CofferError) as error:
        return await product_refused(request, ctx, service_id, product_id, "product", values, error)
    return done(
        product_url(service_id, product_id),
        _("Product saved.") if changed else _("Nothing changed."),
    )


@router.post("/catalog/{service_id}/products/{product_id}/status")
async def set_status(
    request: Request, ctx: CatalogManage, service_id: str, product_id: str
) -> Response:
    """Put on sale, or take off sale (a product never goes back to draft)."""
    _ = translator(request)
    values = await form_values(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> Product:
        service = service_or_404(conn, service_id)
        status = choice(text(values, "status"), ("on_sale", "off_sale"), _, name="status")
        return actions.set_product_status(
            conn, service.id, _product_id(product_id), status, who=Operator.of(ctx), now=now
        )

    try:
        product = await write(request, perform)
    except (FormError, CofferError) as error:
        return await product_refused(request, ctx, service_id, product_id, "status", values, error)
    message = _("Product put on sale.") if product.status == "on_sale" else _("Taken off sale.")
    return done(product_url(service_id, product_id), message)


@router.post("/catalog/{service_id}/products/{product_id}/categories")
async def set_categories(
    request: Request, ctx: CatalogManage, service_id: str, product_id: str
) -> Response:
    """Place the product in exactly the categories ticked (none: in no menu)."""
    _ = translator(request)
    values = await form_values(request)
    form = await request.form()
    placed = [str(v) for v in form.getlist("categories")]
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> None:
        service = service_or_404(conn, service_id)
        wanted = [_category(raw, _) for raw in placed]
        actions.set_product_categories(
            conn, service.id, _product_id(product_id), wanted, who=Operator.of(ctx), now=now
        )

    try:
        await write(request, perform)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code == "category_not_found":
            error = FormError("categories", refusal(error, _)[0].message)
        return await product_refused(
            request, ctx, service_id, product_id, "categories", values, error
        )
    return done(product_url(service_id, product_id), _("Placement in the menu saved."))
