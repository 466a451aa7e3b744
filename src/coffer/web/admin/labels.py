"""Names of roles and permissions as people read them (translated where they are shown)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message


ROLE_LABELS: dict[str, str] = {
    "superuser": N_("Superuser"),
    "operator": N_("Operator"),
    "cs": N_("CS agent"),
    "marketer": N_("Marketer"),
    "accountant": N_("Accountant"),
    "viewer": N_("Viewer"),
}

#: What a permission lets an admin do, completing "You do not have permission to …".
PERMISSION_LABELS: dict[str, str] = {
    "dashboard.view": N_("view the dashboard"),
    "members.view": N_("view members"),
    "members.status": N_("suspend or reactivate members"),
    "cash.grant": N_("grant cash"),
    "cash.revoke": N_("revoke cash"),
    "cash.reverse": N_("reverse a spend"),
    "holds.release": N_("release holds"),
    "approvals.view": N_("view pending approvals"),
    "approvals.decide": N_("approve or reject grants"),
    "services.view": N_("view services"),
    "services.keys": N_("manage API keys"),
    "services.settings": N_("change service settings"),
    "audit.view": N_("view the audit log"),
    "admins.manage": N_("manage admin accounts"),
    "session.end": N_("sign out"),
    "pg.view": N_("view PG contracts and routing"),
    "pg.manage": N_("manage PG contracts, routing and limits"),
    "charges.view": N_("view charges"),
    "charges.refund": N_("refund charges"),
    "catalog.view": N_("view the catalog"),
    "catalog.manage": N_("edit the catalog"),
    "purchases.cancel": N_("cancel purchases"),
    "promotions.view": N_("view discount policies and charge events"),
    "promotions.manage": N_(
        "create, simulate, activate and end discount policies and charge events"
    ),
    "coupons.view": N_("view coupon campaigns and look up codes"),
    "coupons.manage": N_("create coupon campaigns, generate, export and revoke codes"),
    "coupons.issue": N_("issue coupons to members and cancel redemptions"),
    "grades.view": N_("view grade rules and grade history"),
    "grades.manage": N_("edit grade rules and recompute grades"),
    "grades.override": N_("set a member's grade by hand"),
}
