"""The promotions pages: the overview, a new policy or event, a rule's page and its changes.

- ``GET /admin/promotions`` → the chosen service's overview (``?service=``, else the first);
- ``GET /admin/promotions/{service}``: its policies and events (status, version, budget spent
  and left, uses);
- ``GET …/{policies|events}/new`` and ``POST …/{policies|events}``: create a draft;
- ``GET …/{kind}/{id}``: the rule now, its versions as text, the edit form, activate / end and
  the simulation form; ``POST …/{kind}/{id}`` saves (a changed rule is a new version),
  ``…/activate`` and ``…/end`` move it.

Every change is one transaction with its audit row; a refusal shows the form again with the
message next to its field, and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.pricing.usage import Usage, event_usage, policy_usage
from coffer.pricing.versioned import Version, Versioned
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service
from coffer.web.admin.auth import AdminContext
from coffer.web.admin.desk.common import (
    done,
    pick_service,
    read,
    runtime,
    service_or_404,
    translator,
    write,
)
from coffer.web.admin.desk.forms import FormError, Gettext
from coffer.web.admin.desk.operator import Operator
from coffer.web.admin.promotions import actions
from coffer.web.admin.promotions.common import (
    KINDS,
    Kind,
    Labels,
    PromotionsManage,
    PromotionsView,
    Shown,
    base_url,
    kind_or_404,
    load_labels,
    not_found_page,
    promotions_page,
    refusal,
    rule_id_or_404,
    rule_url,
)
from coffer.web.admin.promotions.describe import describe_event, describe_policy
from coffer.web.admin.promotions.forms import (
    EVENT_DEFAULTS,
    POLICY_DEFAULTS,
    Draft,
    Posted,
    event_draft,
    event_values,
    policy_draft,
    policy_values,
    posted_lists,
    tier_rows,
)
from coffer.web.i18n import request_locale

router = APIRouter()
T = TypeVar("T")

#: The list fields of the two forms (checkboxes sent once per ticked box).
LIST_FIELDS = ("scope_menus", "methods")


# --- the overview ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    services: list[Service]
    service: Service
    policies: list[Versioned[Any]]
    events: list[Versioned[Any]]
    usage: dict[UUID, Usage]


@router.get("/promotions")
async def promotions_home(
    request: Request, ctx: PromotionsView, service: str | None = None
) -> Response:
    """The promotions of the chosen service (``?service=``), else of the first one."""
    services = await read(request, tenancy.list_services)
    chosen = pick_service(services, service)
    if chosen is None:
        return promotions_page(request, ctx, "admin/promotions/no_services.html", {})
    return RedirectResponse(base_url(chosen.id), status_code=303)


@router.get("/promotions/{service_id}")
async def overview_page(request: Request, ctx: PromotionsView, service_id: str) -> HTMLResponse:
    def load(conn: Connection) -> Overview:
        service = service_or_404(conn, service_id)
        policies = KINDS["policies"].store.listing(conn, service.id)
        events = KINDS["events"].store.listing(conn, service.id)
        usage = {
            **policy_usage(conn, (p.id for p in policies)),
            **event_usage(conn, (e.id for e in events)),
        }
        return Overview(tenancy.list_services(conn), service, policies, events, usage)

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    return promotions_page(request, ctx, "admin/promotions/overview.html", {"view": view})


# --- a new rule ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormView:
    service: Service
    kind: Kind
    labels: Labels


def _defaults(kind: Kind) -> dict[str, str]:
    return dict(POLICY_DEFAULTS if kind.slug == "policies" else EVENT_DEFAULTS)


async def show_new(
    request: Request, ctx: AdminContext, service_id: str, slug: str, *,
    shown: Shown | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    locale = request_locale(request)

    def load(conn: Connection) -> FormView:
        kind = kind_or_404(slug)
        service = service_or_404(conn, service_id)
        return FormView(service, kind, load_labels(conn, service.id, locale))

    try:
        view = await read(request, load)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    form = shown or Shown(_defaults(view.kind))
    context = {"view": view, "form": form, "tiers": tier_rows(form.values)}
    return promotions_page(request, ctx, "admin/promotions/new.html", context, status_code)


@router.get("/promotions/{service_id}/{slug}/new")
async def new_page(request: Request, ctx: PromotionsManage, service_id: str, slug: str) -> Response:
    return await show_new(request, ctx, service_id, slug)


def read_draft(conn: Connection, service: Service, kind: Kind, posted: Posted, _: Gettext) -> Draft:
    if kind.slug == "policies":
        return policy_draft(conn, service.id, service.currency, service.timezone, posted, _)
    return event_draft(service.currency, service.timezone, posted, _)


class _Refused(Exception):
    """A refusal with the draft it was about (to place the message on the form)."""

    def __init__(self, error: FormError | CofferError, draft: Draft | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.draft = draft


def _attempt(work: Callable[[], Draft], then: Callable[[Draft], T]) -> T:
    draft: Draft | None = None
    try:
        draft = work()
        return then(draft)
    except (FormError, CofferError) as error:
        if isinstance(error, NotFound) and error.code in ("service_not_found", "page_not_found"):
            raise
        raise _Refused(error, draft) from error


def _failed(posted: Posted, refused: _Refused, _: Gettext) -> tuple[Shown, int]:
    where, message = refusal(refused.error, refused.draft, _)
    values = {k: v for k, v in posted.values.items() if k != "csrf_token"}
    status = 422 if isinstance(refused.error, FormError) else refused.error.status
    return Shown(values, posted.lists, {where: message}), status


@router.post("/promotions/{service_id}/{slug}")
async def create_rule(
    request: Request, ctx: PromotionsManage, service_id: str, slug: str
) -> Response:
    _ = translator(request)
    posted = posted_lists(list((await request.form()).multi_items()), LIST_FIELDS)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> Versioned[Any]:
        kind = kind_or_404(slug)
        service = service_or_404(conn, service_id)
        return _attempt(
            lambda: read_draft(conn, service, kind, posted, _),
            lambda d: actions.create(
                conn, kind.store, service.id, name=d.name, rule=d.rule, budget=d.budget,
                who=Operator.of(ctx), now=now,
            ),
        )  # fmt: skip

    try:
        made = await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except _Refused as refused:
        shown, status = _failed(posted, refused, _)
        return await show_new(request, ctx, service_id, slug, shown=shown, status_code=status)
    kind = KINDS[slug]
    message = _("Draft %(name)s saved. Simulate it, then activate it.") % {"name": made.name}
    return done(rule_url(service_id, kind, made.id), message)


# --- a rule's page ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleView:
    service: Service
    kind: Kind
    rule: Versioned[Any]
    #: Each version, newest first, with its rule in sentences.
    versions: list[tuple[Version, list[str]]]
    usage: Usage | None
    labels: Labels


def load_rule(
    conn: Connection, service_id: str, slug: str, raw_id: str, locale: str, _: Gettext
) -> RuleView:
    kind = kind_or_404(slug)
    service = service_or_404(conn, service_id)
    found = kind.store.get(conn, service.id, rule_id_or_404(raw_id, kind))
    labels = load_labels(conn, service.id, locale)
    versions = []
    for version in reversed(kind.store.history(conn, found.id)):
        parsed = kind.store.parse(version.rule)
        if kind.slug == "policies":
            words = describe_policy(parsed, service.currency, service.timezone, labels.names, _)
        else:
            words = describe_event(parsed, service.currency, service.timezone, _)
        versions.append((version, words))
    usage = (policy_usage if kind.slug == "policies" else event_usage)(conn, [found.id])
    return RuleView(service, kind, found, versions, usage.get(found.id), labels)


def saved_values(view: RuleView) -> dict[str, str]:
    r, s = view.rule, view.service
    if view.kind.slug == "policies":
        return policy_values(r.name, r.budget, r.rule, view.labels.skus, s.currency, s.timezone)
    return event_values(r.name, r.budget, r.rule, s.currency, s.timezone)


async def show_rule(
    request: Request, ctx: AdminContext, service_id: str, slug: str, rule_id: str, *,
    shown: Shown | None = None, status_code: int = 200, extra: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    _ = translator(request)
    locale = request_locale(request)
    try:
        view = await read(request, lambda c: load_rule(c, service_id, slug, rule_id, locale, _))
    except NotFound as error:
        return not_found_page(request, ctx, error)
    form = shown
    if form is None:
        ids = view.rule.rule.scope.ids if slug == "policies" else ()
        methods = view.rule.rule.methods if slug == "events" else ()
        form = Shown(
            saved_values(view),
            {"scope_menus": [str(i) for i in ids], "methods": sorted(methods)},
        )
    tiers = len(view.rule.rule.tiers) if slug == "events" else 0
    context: dict[str, Any] = {
        "view": view, "form": form, "tiers": tier_rows(form.values, tiers), **(extra or {}),
    }  # fmt: skip
    if form.errors:
        context["flashes"] = [{"kind": "error", "text": next(iter(form.errors.values()))}]
    return promotions_page(request, ctx, "admin/promotions/rule.html", context, status_code)


@router.get("/promotions/{service_id}/{slug}/{rule_id}")
async def rule_page(
    request: Request, ctx: PromotionsView, service_id: str, slug: str, rule_id: str
) -> HTMLResponse:
    return await show_rule(request, ctx, service_id, slug, rule_id)


@router.post("/promotions/{service_id}/{slug}/{rule_id}")
async def revise_rule(
    request: Request, ctx: PromotionsManage, service_id: str, slug: str, rule_id: str
) -> Response:
    """Save the form: the name and budget change in place, a changed rule is a new version."""
    _ = translator(request)
    posted = posted_lists(list((await request.form()).multi_items()), LIST_FIELDS)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> tuple[Versioned[Any], bool]:
        kind = kind_or_404(slug)
        service = service_or_404(conn, service_id)
        found = rule_id_or_404(rule_id, kind)
        return _attempt(
            lambda: read_draft(conn, service, kind, posted, _),
            lambda d: actions.revise(
                conn, kind.store, service.id, found, name=d.name, rule=d.rule,
                budget=d.budget, who=Operator.of(ctx), now=now,
            ),
        )  # fmt: skip

    try:
        after, changed = await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except _Refused as refused:
        shown, status = _failed(posted, refused, _)
        return await show_rule(
            request, ctx, service_id, slug, rule_id, shown=shown, status_code=status
        )
    if not changed:
        message = _("Nothing changed.")
    else:
        message = _("Saved: version %(version)s.") % {"version": after.version}
    return done(rule_url(service_id, KINDS[slug], after.id), message)


async def _move(
    request: Request, ctx: AdminContext, service_id: str, slug: str, rule_id: str, target: str
) -> Response:
    _ = translator(request)
    now = runtime(request).clock.now()

    def perform(conn: Connection) -> Versioned[Any]:
        kind = kind_or_404(slug)
        service = service_or_404(conn, service_id)
        found = rule_id_or_404(rule_id, kind)
        move = actions.activate if target == "active" else actions.end
        return move(conn, kind.store, service.id, found, who=Operator.of(ctx), now=now)

    try:
        after = await write(request, perform)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except CofferError as error:
        _where, message = refusal(error, None, _)
        return await show_rule(
            request, ctx, service_id, slug, rule_id, status_code=error.status,
            extra={"flashes": [{"kind": "error", "text": message}]},
        )  # fmt: skip
    if after.status == "active":
        message = _("%(name)s is active.") % {"name": after.name}
    else:
        message = _("%(name)s has ended.") % {"name": after.name}
    return done(rule_url(service_id, KINDS[slug], after.id), message)


@router.post("/promotions/{service_id}/{slug}/{rule_id}/activate")
async def activate_rule(
    request: Request, ctx: PromotionsManage, service_id: str, slug: str, rule_id: str
) -> Response:
    return await _move(request, ctx, service_id, slug, rule_id, "active")


@router.post("/promotions/{service_id}/{slug}/{rule_id}/end")
async def end_rule(
    request: Request, ctx: PromotionsManage, service_id: str, slug: str, rule_id: str
) -> Response:
    return await _move(request, ctx, service_id, slug, rule_id, "ended")
