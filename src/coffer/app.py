"""Composition root: builds the runtime, and holds the use cases that span packages.

Tenancy and the ledger are independent siblings (DESIGN §3); what joins them — opening a
wallet when a member is created, turning a member into the ledger's ``WalletRef``, the member
status rules for moving cash — lives here, below the entry points that call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer.config import Settings
from coffer.db.engine import make_engine
from coffer.db.transaction import Database
from coffer.kernel.clock import Clock, SystemClock
from coffer.kernel.errors import Conflict
from coffer.kernel.money import parse_amount
from coffer.ledger import accounts as ledger_accounts
from coffer.ledger import queries as ledger_queries
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.payments import charges, limits, routing
from coffer.payments.charges import Charge
from coffer.payments.charging import PaymentsContext
from coffer.payments.directory import GatewayDirectory, GatewayProvider
from coffer.payments.secrets import SecretBox
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, NewApiKey, Service


@dataclass
class Runtime:
    """What every entry point needs: settings, the database and a clock.

    ``gateways`` reaches the PG of a contract; left ``None`` it is built from the contracts
    table on first use (tests pass their own).
    """

    settings: Settings
    db: Database
    clock: Clock
    gateways: GatewayProvider | None = None

    def payments(self) -> PaymentsContext:
        """What the charge flows need, the gateway directory built on first use."""
        if self.gateways is None:
            self.gateways = gateway_directory(self.settings, self.db)
        return PaymentsContext(self.db, self.clock, self.gateways, resolve_wallet)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        if settings.database_url.startswith("sqlite"):
            settings.ensure_data_dir()
        return cls(settings, Database(make_engine(settings.database_url)), clock or SystemClock())


def create_service(
    conn: Connection, *, name: str, currency: str, timezone: str, clock: Clock, key_label: str = ""
) -> tuple[Service, NewApiKey]:
    """A new service with its system accounts and a first API key."""
    now = clock.now()
    service = tenancy.create_service(conn, name=name, currency=currency, timezone=timezone, now=now)
    ledger_accounts.open_service_accounts(conn, service.id, service.currency, now=now)
    key = tenancy.create_api_key(conn, service.id, now=now, label=key_label or "default")
    return service, key


def create_member(
    conn: Connection, service: Service, external_id: str, *, clock: Clock, grade: str = "basic"
) -> Member:
    """A new member with an empty wallet."""
    now = clock.now()
    member = tenancy.create_member(conn, service.id, external_id, now=now, grade=grade)
    ledger_accounts.open_wallet(conn, wallet_ref(service, member), now=now)
    return member


def wallet_ref(service: Service, member: Member) -> WalletRef:
    return WalletRef(
        service_id=service.id,
        member_id=member.id,
        currency=service.currency,
        timezone=service.timezone,
        consumption_order=service.consumption_order,
    )


#: What a member in each status may do with cash. Suspended members keep their cash and may
#: receive it (compensation, reversals) but cannot spend or reserve; closed members do nothing.
MAY_SPEND = frozenset({"active"})
MAY_RECEIVE = frozenset({"active", "suspended"})


def member_wallet(
    conn: Connection, service: Service, external_id: str, *, spending: bool
) -> tuple[Member, WalletRef]:
    """The member and its wallet, refusing members whose status forbids the operation."""
    return _allowed(service, tenancy.get_member(conn, service.id, external_id), spending)


def member_wallet_by_id(
    conn: Connection, service: Service, member_id: UUID, *, spending: bool
) -> tuple[Member, WalletRef]:
    """As :func:`member_wallet`, for operations that start from a hold or a journal."""
    return _allowed(service, tenancy.get_member_by_id(conn, service.id, member_id), spending)


def _allowed(service: Service, member: Member, spending: bool) -> tuple[Member, WalletRef]:
    allowed = MAY_SPEND if spending else MAY_RECEIVE
    if member.status not in allowed:
        raise Conflict(
            f"member_{member.status}",
            f"Member {member.external_id!r} is {member.status} and cannot "
            f"{'spend' if spending else 'receive'} cash.",
        )
    return member, wallet_ref(service, member)


def change_member_status(
    conn: Connection, service: Service, external_id: str, status: str, *, clock: Clock
) -> Member:
    """Suspend, reactivate or close a member; a member with active holds cannot be closed."""
    if status == "closed":
        member = tenancy.get_member(conn, service.id, external_id)
        if ledger_queries.member_holds(conn, member.id, active_only=True):
            raise Conflict(
                "member_has_active_holds",
                "Commit or release the member's active holds before closing the member.",
            )
    return tenancy.set_member_status(conn, service.id, external_id, status, now=clock.now())


def resolve_wallet(conn: Connection, service_id: UUID, member_id: UUID) -> WalletRef:
    """The ledger's ``WalletResolver`` for jobs that start from a hold or a lot."""
    service = tenancy.get_service(conn, service_id)
    return wallet_ref(service, tenancy.get_member_by_id(conn, service_id, member_id))


def expire_holds(runtime: Runtime) -> int:
    return ledger.expire_holds(runtime.db, runtime.clock, resolve_wallet)


def expire_lots(runtime: Runtime) -> int:
    return ledger.expire_lots(runtime.db, runtime.clock, resolve_wallet)


def gateway_directory(settings: Settings, db: Database) -> GatewayDirectory:
    """The production :data:`GatewayProvider`: contracts' secrets opened with the secret key."""
    box = SecretBox(settings.resolve_secret_key())
    return GatewayDirectory(db, box, timeout=settings.pg_timeout_seconds)


def create_charge(
    conn: Connection,
    service: Service,
    external_id: str,
    *,
    amount: object,
    method: object,
    pg: str | None,
    return_url: object,
    now: datetime,
) -> Charge:
    """A charge order for an active member, within the limits, routed to a healthy PG."""
    member = tenancy.get_member(conn, service.id, external_id)
    if member.status != "active":
        raise Conflict(
            f"member_{member.status}",
            f"Member {member.external_id!r} is {member.status} and cannot charge cash.",
        )
    checked_method = charges.check_method(method)
    checked_amount = parse_amount(amount)
    url = charges.check_return_url(return_url)
    today, month = charges.member_charged(conn, member.id, checked_method, now, service.timezone)
    limits.check_charge(
        limits.get_limits(conn, service.id, checked_method),
        checked_amount,
        member_today=today,
        member_this_month=month,
    )
    contract = routing.route(conn, service.id, checked_method, pg=pg, now=now)[0]
    return charges.create_charge(
        conn, wallet_ref(service, member), contract_id=contract.id, pg=contract.pg,
        method=checked_method, amount=checked_amount, return_url=url, now=now,
    )  # fmt: skip
