"""``POST /admin/promotions/{service}/{policies|events}/{id}/simulate``: the what-if of a rule.

The rule at its current version (with its budget) is replayed over the last ``days`` days
(:mod:`coffer.simulation`); nothing is written. Sent by htmx, the answer is the result table
alone (swapped in under the form, a refusal included); without htmx, the rule's page with
the result (422 on a refusal).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from coffer.kernel.errors import CofferError, NotFound
from coffer.pricing.model import RuleKey
from coffer.simulation.events import simulate_event
from coffer.simulation.model import EventSimulation, PolicySimulation
from coffer.simulation.policies import simulate_policy
from coffer.web.admin.desk.common import read, runtime, service_or_404, translator
from coffer.web.admin.desk.forms import FormError, Gettext, text
from coffer.web.admin.pg.labels import METHOD_LABELS
from coffer.web.admin.promotions.common import (
    PromotionsManage,
    kind_or_404,
    not_found_page,
    refusal,
    rule_id_or_404,
)
from coffer.web.admin.promotions.forms import whole
from coffer.web.admin.promotions.pages import show_rule
from coffer.web.admin.rendering import private
from coffer.web.templating import render

router = APIRouter()
FRAGMENT = "admin/promotions/_simulation.html"


def _days(raw: str, _: Gettext) -> int:
    days = whole(raw, _, "days")
    if days is None:
        raise FormError("days", _("Enter a whole number of days from 1 to 366."))
    return days


def run(
    conn: Connection, service_id: str, slug: str, rule_id: str, days: int, now: datetime
) -> tuple[Any, PolicySimulation | EventSimulation]:
    kind = kind_or_404(slug)
    service = service_or_404(conn, service_id)
    found = kind.store.get(conn, service.id, rule_id_or_404(rule_id, kind))
    key = RuleKey(kind.noun, found.id, found.version)
    simulate = simulate_policy if kind.slug == "policies" else simulate_event
    result = simulate(
        conn, service, found.rule, name=found.name, budget=found.budget, days=days, now=now,
        key=key,
    )  # fmt: skip
    return service, result


@router.post("/promotions/{service_id}/{slug}/{rule_id}/simulate")
async def simulate(
    request: Request, ctx: PromotionsManage, service_id: str, slug: str, rule_id: str
) -> Response:
    _ = translator(request)
    values = dict((await request.form()).items())
    raw_days = text(values, "days")
    now = runtime(request).clock.now()
    htmx = request.headers.get("HX-Request") == "true"
    context: dict[str, Any] = {"days": raw_days}
    status = 200
    try:
        days = _days(raw_days, _)
        service, result = await read(
            request, lambda c: run(c, service_id, slug, rule_id, days, now)
        )
        context.update(service=service, result=result, slug=slug)
    except NotFound as error:
        return not_found_page(request, ctx, error)
    except (FormError, CofferError) as error:
        _where, message = refusal(error, None, _)
        context["simulation_error"] = message
        status = 422
    if htmx:
        # htmx swaps only 2xx answers: a refusal is a result that says what is wrong.
        return private(
            render(request, FRAGMENT, {"simulation": context, "method_labels": METHOD_LABELS})
        )
    return await show_rule(
        request, ctx, service_id, slug, rule_id, status_code=status,
        extra={"simulation": context},
    )  # fmt: skip
