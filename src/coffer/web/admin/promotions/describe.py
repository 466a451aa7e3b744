"""A policy's or an event's rule as a few readable sentences, in the admin's language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from coffer.pricing.model import DiscountRule, EventRule
from coffer.web.admin.desk.forms import Gettext
from coffer.web.admin.pg.labels import METHOD_LABELS
from coffer.web.admin.promotions.forms import bp_text
from coffer.web.formatting import local_time, money


def _window(starts: datetime | None, ends: datetime | None, zone: str, _: Gettext) -> list[str]:
    found = []
    if starts is not None:
        found.append(_("from %(time)s") % {"time": local_time(starts, zone)})
    if ends is not None:
        found.append(_("until %(time)s") % {"time": local_time(ends, zone)})
    return found


def _stacking(priority: int, stacking: str, _: Gettext) -> str:
    if stacking == "stackable":
        return _("priority %(priority)s, stacks with other stackable rules") % {
            "priority": priority
        }
    return _("priority %(priority)s, exclusive (the best offer for the member wins)") % {
        "priority": priority
    }


def describe_policy(
    rule: DiscountRule, code: str, zone: str, labels: Mapping[UUID, str], _: Gettext
) -> list[str]:
    """The rule in sentences: effect, scope, conditions, stacking, caps."""
    e, c = rule.effect, rule.conditions
    if e.kind == "percent_off":
        effect = _("%(percent)s%% off") % {"percent": bp_text(e.value)}
    elif e.kind == "amount_off":
        effect = _("%(amount)s off each unit") % {"amount": money(e.value, code)}
    elif e.kind == "fixed_price":
        effect = _("a fixed price of %(amount)s each") % {"amount": money(e.value, code)}
    else:
        effect = _("buy %(buy)s, get %(get)s free") % {"buy": e.buy, "get": e.get}
    named = ", ".join(sorted(labels.get(i, str(i)) for i in rule.scope.ids))
    if rule.scope.kind == "products":
        scope = _("on the products %(names)s") % {"names": named}
    elif rule.scope.kind == "categories":
        scope = _("on the menus %(names)s and everything under them") % {"names": named}
    else:
        scope = _("on the whole catalog")
    sentences = [f"{effect} {scope}"]
    if c.grades:
        sentences.append(_("for the grades %(grades)s") % {"grades": ", ".join(sorted(c.grades))})
    sentences.extend(_window(c.starts_at, c.ends_at, zone, _))
    if c.first_purchase:
        sentences.append(_("first purchase only"))
    if c.min_amount:
        sentences.append(
            _("when the purchase has at least %(amount)s in scope")
            % {"amount": money(c.min_amount, code)}
        )
    if c.min_quantity > 1:
        sentences.append(_("on lines of at least %(n)s units") % {"n": c.min_quantity})
    sentences.append(_stacking(rule.priority, rule.stacking, _))
    if rule.uses_per_member is not None:
        sentences.append(_("at most %(n)s purchases per member") % {"n": rule.uses_per_member})
    return sentences


def describe_event(rule: EventRule, code: str, zone: str, _: Gettext) -> list[str]:
    """The event in sentences: tiers, who and how, limits."""
    sentences = []
    for tier in rule.tiers:
        parts = []
        if tier.percent_bp:
            parts.append(_("%(percent)s%% bonus") % {"percent": bp_text(tier.percent_bp)})
        if tier.fixed:
            parts.append(_("%(amount)s bonus") % {"amount": money(tier.fixed, code)})
        sentences.append(
            _("charging %(amount)s or more: %(bonus)s")
            % {"amount": money(tier.min_amount, code), "bonus": " + ".join(parts)}
        )
    if rule.methods:
        methods = ", ".join(_(METHOD_LABELS.get(m, m)) for m in sorted(rule.methods))
        sentences.append(_("paid by %(methods)s") % {"methods": methods})
    if rule.grades:
        sentences.append(
            _("for the grades %(grades)s") % {"grades": ", ".join(sorted(rule.grades))}
        )
    if rule.first_charge:
        sentences.append(_("first charge only"))
    sentences.extend(_window(rule.starts_at, rule.ends_at, zone, _))
    if rule.per_member_limit is not None:
        sentences.append(_("at most %(n)s bonuses per member") % {"n": rule.per_member_limit})
    if rule.bonus_days is None:
        sentences.append(_("the bonus never expires"))
    else:
        sentences.append(
            _("the bonus expires %(n)s days after the charge") % {"n": rule.bonus_days}
        )
    sentences.append(_stacking(rule.priority, rule.stacking, _))
    return sentences
