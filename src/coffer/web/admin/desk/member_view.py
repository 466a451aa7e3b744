"""What the member page shows, loaded in one read transaction.

The history filter comes from the query string: ``kind``, ``date_from``/``date_to`` (business
dates) and ``before`` (the ledger's cursor: the id of the last row of the previous page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.approvals import service as approvals
from coffer.approvals.model import GrantApproval
from coffer.catalog.model import Product
from coffer.catalog.shop_queries import products_by_ids
from coffer.coupons import redeeming
from coffer.coupons.model import MemberCoupons
from coffer.entitlements import grants
from coffer.entitlements.model import MemberEntitlements
from coffer.kernel.ids import uuid7
from coffer.ledger import queries, reports
from coffer.ledger.model import Balance
from coffer.ledger.queries import HistoryPage, LotRecord
from coffer.ledger.store import HoldRow
from coffer.payments.charge_search import ChargeFilter, search_charges
from coffer.payments.charges import Charge
from coffer.purchases import records
from coffer.purchases.model import TIME_CANCEL_WINDOW_SECONDS, Purchase, PurchaseLine
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
from coffer.web.admin.charge_labels import CHARGE_STATUS_LABELS, STATUS_TONES
from coffer.web.admin.desk import forms
from coffer.web.admin.desk.forms import FormError, FormState, Gettext
from coffer.web.admin.grades.member_section import MemberGrade, load_member_grade
from coffer.web.admin.pg.labels import METHOD_LABELS

HISTORY_PAGE = 20
#: How many of the member's latest charges the member page shows.
RECENT_CHARGES = 5
#: How many of the member's latest purchases (made or received) the member page shows.
RECENT_PURCHASES = 10


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


@dataclass(frozen=True, slots=True)
class LineRow:
    """A purchase line as the member page shows it; ``cancel_until`` is when its cancellation
    window closes (None: never cancellable)."""

    line: PurchaseLine
    product: Product | None
    cancel_until: datetime | None

    def cancellable(self, now: datetime) -> bool:
        """Worth offering "cancel": active and inside its window (the use check comes later)."""
        return (
            self.line.status == "active"
            and self.cancel_until is not None
            and now < self.cancel_until
        )


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    purchase: Purchase
    lines: list[LineRow]
    #: A fresh key per rendered cancel form: a double click cancels once.
    form_key: str

    def cancellable(self, now: datetime) -> bool:
        return any(row.cancellable(now) for row in self.lines)


def _purchase_row(purchase: Purchase, products: dict[UUID, Product]) -> PurchaseRow:
    rows = []
    for line in purchase.lines:
        product = products.get(line.product_id) if line.product_id else None
        window = (
            TIME_CANCEL_WINDOW_SECONDS
            if line.product_id is None
            else (product.cancel_window_seconds if product else 0)
        )
        until = purchase.created_at + timedelta(seconds=window) if window > 0 else None
        rows.append(LineRow(line, product, until))
    return PurchaseRow(purchase, rows, uuid7().hex)


@dataclass
class Owned:
    """What the member owns (items, passes, quantities, time) and the products named in it."""

    entitlements: MemberEntitlements
    products: dict[UUID, Product]
    purchases: list[PurchaseRow]
    more_purchases: bool

    def name(self, product_id: UUID | None, locale: str) -> str:
        product = self.products.get(product_id) if product_id else None
        if product is None:
            return ""
        return product.name_ko if locale == "ko" else product.name_en


def load_owned(conn: Connection, service: Service, member: Member, now: datetime) -> Owned:
    """The member's entitlements and latest purchases (made or received as a gift)."""
    owned = grants.member_entitlements(conn, member.id, now)
    found = records.member_purchases(
        conn, service.id, member.id, before=None, limit=RECENT_PURCHASES + 1
    )
    shown = found[:RECENT_PURCHASES]
    ids = [e.product_id for e in (*owned.items, *owned.passes)]
    ids += [q.product_id for q in owned.quantities]
    ids += [line.product_id for p in shown for line in p.lines]
    products = products_by_ids(conn, service.id, ids)
    rows = [_purchase_row(p, products) for p in shown]
    return Owned(owned, products, rows, len(found) > RECENT_PURCHASES)


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
    #: Entitlements and purchases (None when the page is shown without them).
    owned: Owned | None = None
    #: The grade section: override and grade history (None when shown without it).
    grade: MemberGrade | None = None
    #: Coupons issued to the member and the member's redemptions (``_member_coupons.html``).
    coupons: MemberCoupons | None = None


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
        owned=load_owned(conn, service, member, now),
        grade=load_member_grade(conn, member, now),
        coupons=redeeming.member_coupons(conn, member),
    )
