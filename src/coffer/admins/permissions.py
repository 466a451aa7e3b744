"""The one permission matrix of the admin web: default deny.

Every admin route declares one permission (tests enumerate the routes and fail on any that
does not); a role may do exactly what is listed for it here. ``superuser`` may do everything.
"""

from __future__ import annotations

ROLES = ("superuser", "operator", "cs", "marketer", "accountant", "viewer")

#: permission -> roles holding it (superuser implied everywhere).
MATRIX: dict[str, frozenset[str]] = {
    "dashboard.view": frozenset(ROLES),
    "members.view": frozenset(ROLES),
    "members.status": frozenset({"operator", "cs"}),
    "cash.grant": frozenset({"operator", "cs"}),
    "cash.revoke": frozenset({"operator", "cs"}),
    "cash.reverse": frozenset({"operator", "cs"}),
    "holds.release": frozenset({"operator", "cs"}),
    "approvals.view": frozenset({"operator", "cs", "accountant"}),
    "approvals.decide": frozenset({"operator"}),
    "services.view": frozenset({"operator", "accountant", "viewer"}),
    "services.keys": frozenset({"operator"}),
    "services.settings": frozenset({"operator"}),
    "pg.view": frozenset({"operator", "accountant", "viewer"}),
    "pg.manage": frozenset({"operator"}),
    "charges.view": frozenset({"operator", "cs", "accountant", "viewer"}),
    "charges.refund": frozenset({"operator", "cs"}),
    "audit.view": frozenset({"operator", "accountant"}),
    "catalog.view": frozenset({"operator", "marketer", "accountant", "viewer", "cs"}),
    "catalog.manage": frozenset({"operator", "marketer"}),
    "purchases.cancel": frozenset({"operator", "cs"}),
    "promotions.view": frozenset({"operator", "marketer", "accountant", "viewer", "cs"}),
    "promotions.manage": frozenset({"operator", "marketer"}),
    "coupons.view": frozenset({"operator", "marketer", "accountant", "viewer", "cs"}),
    "coupons.manage": frozenset({"operator", "marketer"}),
    "coupons.issue": frozenset({"operator", "marketer", "cs"}),
    "grades.view": frozenset({"operator", "marketer", "accountant", "viewer", "cs"}),
    "grades.manage": frozenset({"operator", "marketer"}),
    "grades.override": frozenset({"operator", "cs"}),
    "admins.manage": frozenset(),
    # Every signed-in admin may end their own session (the sign-out button).
    "session.end": frozenset(ROLES),
}

PERMISSIONS = tuple(MATRIX)


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission``; unknown permissions and roles are denied."""
    if permission not in MATRIX or role not in ROLES:
        return False
    return role == "superuser" or role in MATRIX[permission]
