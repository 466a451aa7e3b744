"""Names of product kinds, statuses and units as people read them (msgids: translate where
shown)."""

from __future__ import annotations

from coffer.web.admin.labels import N_

KIND_LABELS: dict[str, str] = {
    "item": N_("Item"),
    "period_pass": N_("Period pass (fixed amount)"),
    "quantity_pass": N_("Quantity pass (fixed quantity)"),
    "metered": N_("Metered (pay per use)"),
    "mixed": N_("Mixed (pass with included units)"),
    "package": N_("Package"),
    "time_coupon": N_("Time coupon"),
}

#: One line under each kind on the "new product" page.
KIND_HINTS: dict[str, str] = {
    "item": N_("A durable or consumable item the member owns in some quantity."),
    "period_pass": N_("Unlimited use for a number of days; buying again extends the pass."),
    "quantity_pass": N_("A number of units or minutes, used down by usage reports."),
    "metered": N_("No price of its own: each unit used is charged from cash."),
    "mixed": N_("A pass for some days including some units; each unit over costs cash."),
    "package": N_("A bundle of other products at its own price."),
    "time_coupon": N_("Minutes of play time."),
}

STATUS_LABELS: dict[str, str] = {
    "draft": N_("Draft"),
    "on_sale": N_("On sale"),
    "off_sale": N_("Off sale"),
}

CP_STATUS_LABELS: dict[str, str] = {
    "active": N_("Active"),
    "inactive": N_("Inactive"),
}

UNIT_LABELS: dict[str, str] = {
    "unit": N_("units"),
    "minute": N_("minutes"),
}
