"""What the member page shows, loaded in one read transaction.

The history filter comes from the query string: ``kind``, ``date_from``/``date_to`` (business
dates) and ``before`` (the ledger's cursor: the id of the last row of the previous page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.approvals import service as approvals
from coffer.approvals.model import GrantApproval
from coffer.ledger import queries, reports
from coffer.ledger.model import Balance
from coffer.ledger.queries import HistoryPage, LotRecord
from coffer.ledger.store import HoldRow
from coffer.payments.charge_search import ChargeFilter, search_charges
from coffer.payments.charges import Charge
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
from coffer.web.admin.charge_labels import CHARGE_STATUS_LABELS, STATUS_TONES
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, FormState, Gettext
from coffer.web.admin.pg.labels import METHOD_LABELS

HISTORY_PAGE = 20
#: How many of the member's latest charges the member page shows.
RECENT_CHARGES = 5


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    kind: str = ""
    date_from: date | None = None
    date_to: date | None = None
    before: UUID | None = None

    def query(self, **override: Any) -> dict[str, str]:
        """The filter as query parameters (empty ones left out), e.g. for the next page."""
        values = {
            "kind": self.kind,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "before": str(self.before) if self.before else "",
            **override,
        }
        return {key: value for key, value in values.items() if value}


def history_filter(params: dict[str, str], _: Gettext) -> HistoryFilter:
    """Parse the history filter; a bad value is a :class:`FormError` on its field."""
    kind = params.get("kind", "")
    if kind and kind not in queries.JOURNAL_KINDS:
        raise FormError("kind", _("Choose one of the options."))
    date_from = forms.day(params.get("date_from", ""), _, name="date_from")
    date_to = forms.day(params.get("date_to", ""), _, name="date_to")
    if date_from and date_to and date_from > date_to:
        raise FormError("date_to", _("The end date is before the start date."))
    before = None
    if params.get("before"):
        before = forms.object_id(params["before"], _, name="before")
    return HistoryFilter(kind, date_from, date_to, before)


@dataclass
class HistoryView:
    page: HistoryPage
    filter: HistoryFilter
    error: FormState | None = None
    #: Spends on this page that have been reversed (no reverse button for them).
    reversed_ids: set[UUID] = field(default_factory=set)


def load_history(
    conn: Connection, member: Member, chosen: HistoryFilter, error: FormState | None = None
) -> HistoryView:
    """A page of the member's history; with a filter error, an empty page showing the error."""
    if error is not None:
        return HistoryView(HistoryPage([], None), chosen, error)
    page = queries.history(
        conn,
        member.id,
        kinds=[chosen.kind] if chosen.kind else None,
        date_from=chosen.date_from,
        date_to=chosen.date_to,
        before=chosen.before,
        limit=HISTORY_PAGE,
    )
    spends = [entry.id for entry in page.entries if entry.kind == "spend"]
    return HistoryView(page, chosen, None, reports.reversed_journals(conn, spends))


@dataclass(frozen=True, slots=True)
class RecentCharge:
    """A charge as the member page lists it; the labels are msgids (translate with ``_``)."""

    charge: Charge
    status_label: str
    method_label: str
    tone: str

    @classmethod
    def of(cls, charge: Charge) -> RecentCharge:
        return cls(
            charge,
            CHARGE_STATUS_LABELS.get(charge.status, charge.status),
            METHOD_LABELS.get(charge.method, charge.method),
            STATUS_TONES.get(charge.status, "plain"),
        )


@dataclass
class MemberView:
    service: Service
    member: Member
    balance: Balance
    lots: list[LotRecord]
    holds: list[HoldRow]
    history: HistoryView
    pending: list[GrantApproval]
    #: The member's latest charges, newest first; ``more_charges`` when there are older ones.
    charges: list[RecentCharge]
    more_charges: bool


def load_member(
    conn: Connection,
    service: Service,
    external_id: str,
    now: datetime,
    chosen: HistoryFilter,
    history_error: FormState | None = None,
) -> MemberView:
    member = tenancy.get_member(conn, service.id, external_id)
    pending, _cursor = approvals.list_approvals(
        conn, status="pending", service_id=service.id, member_id=member.id, limit=20
    )
    recent = search_charges(
        conn, service.id, ChargeFilter(member_id=member.id), limit=RECENT_CHARGES
    )
    return MemberView(
        service=service,
        member=member,
        balance=queries.balance(conn, member.id, now),
        lots=queries.member_lots(conn, member.id),
        holds=queries.member_holds(conn, member.id, active_only=True),
        history=load_history(conn, member, chosen, history_error),
        pending=pending,
        charges=[RecentCharge.of(charge) for charge in recent.charges],
        more_charges=recent.next_cursor is not None,
    )
