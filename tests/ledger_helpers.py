"""Building blocks for ledger tests: a service, members with wallets, and invariant checks."""

from __future__ import annotations

from dataclasses import dataclass

from coffer import app
from coffer.db.transaction import Database
from coffer.kernel.clock import Clock
from coffer.ledger.invariants import check_all
from coffer.ledger.model import WalletRef
from coffer.tenancy.model import Member, Service


@dataclass
class Account:
    service: Service
    member: Member
    wallet: WalletRef


def new_service(
    db: Database, clock: Clock, *, currency: str = "KRW", name: str = "Game"
) -> Service:
    service, _key = db.write(
        lambda c: app.create_service(
            c, name=name, currency=currency, timezone="Asia/Seoul", clock=clock
        )
    )
    return service


def new_member(db: Database, clock: Clock, service: Service, external_id: str) -> Account:
    member = db.write(lambda c: app.create_member(c, service, external_id, clock=clock))
    return Account(service, member, app.wallet_ref(service, member))


def assert_invariants(db: Database) -> None:
    violations = db.read(check_all)
    assert violations == [], violations
