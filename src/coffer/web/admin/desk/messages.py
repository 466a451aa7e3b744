"""Domain errors in the admin's language: the stable code picks the sentence."""

from __future__ import annotations

from coffer.kernel.errors import CofferError
from coffer.web.admin.desk.forms import Gettext


def explain(error: CofferError, _: Gettext) -> str:
    """A sentence for a CS agent; unknown codes fall back to the domain's English message."""
    known = {
        "insufficient_funds": _("The member does not have enough cash for this."),
        "member_suspended": _("The member is suspended."),
        "member_closed": _("The member is closed: no cash can move."),
        "member_not_found": _("No such member in this service."),
        "service_not_found": _("No such service."),
        "member_status_unchanged": _("The member already has this status."),
        "member_has_active_holds": _("Release the member's active holds first."),
        "journal_not_found": _("No such transaction for this member."),
        "not_reversible": _("Only a spend of this member can be reversed."),
        "already_reversed": _("This spend has already been reversed."),
        "hold_not_found": _("No such hold for this member."),
        "hold_member_mismatch": _("No such hold for this member."),
        "hold_committed": _("The hold is already committed."),
        "hold_released": _("The hold is already released."),
        "hold_expired": _("The hold has expired."),
        "invalid_expiry": _("The expiry must be in the future."),
        "approval_not_found": _("No such approval request."),
        "approval_not_pending": _("This request has already been decided."),
        "approval_self_decision": _("You cannot approve your own request."),
        "api_key_not_found": _("No active API key with that prefix."),
        "invalid_timezone": _("Not a known time zone (use a name like Asia/Seoul)."),
        "form_replayed": _("This form was already submitted."),
    }
    return known.get(error.code, error.message)
