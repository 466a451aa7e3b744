"""What the browser tests' server holds: two services, members with cash and history.

``Demo Game`` (KRW, Asia/Seoul) has:

- ``alice``: a 50,000 charge, a 5,000 event bonus expiring in 10 days, a 1,500 use, a 2,000
  reservation committed at 1,200, a 3,000 use reversed (refunded) — balance paid 50,000,
  bonus 2,300 (bonus is drawn first; the reversal puts back what it drew);
- ``bob``: a 10,000 charge, nothing else (tests grant him more through the API);
- ``pat``: 25 small charges (two pages of history);
- ``sam`` (suspended) and ``cleo`` (closed), 1,000 each.

``Other Game`` has ``zoe``, who does not exist in Demo Game.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy.engine import Connection

from coffer import app as usecases
from coffer.app import Runtime
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Service

ALICE_PAID = 50_000
ALICE_BONUS = 2_300


@dataclass(frozen=True)
class World:
    service_id: UUID
    service_name: str
    api_key: str
    link_secret: str
    other_service_id: UUID
    other_link_secret: str


def _member(conn: Connection, rt: Runtime, service: Service, external_id: str, paid: int) -> None:
    member = usecases.create_member(conn, service, external_id, clock=rt.clock)
    wallet = usecases.wallet_ref(service, member)
    ledger.grant(
        conn, wallet, amount=paid, kind="paid", source="charge", actor="test", now=rt.clock.now()
    )


def _alice(conn: Connection, rt: Runtime, service: Service) -> None:
    now = rt.clock.now()
    member = usecases.create_member(conn, service, "alice", clock=rt.clock, grade="gold")
    wallet = usecases.wallet_ref(service, member)
    ledger.grant(conn, wallet, amount=50_000, kind="paid", source="charge", actor="test", now=now)
    ledger.grant(
        conn,
        wallet,
        amount=5_000,
        kind="bonus",
        source="event",
        actor="test",
        now=now,
        reason="welcome event",
        expires_at=now + timedelta(days=10),
    )
    ledger.spend(
        conn, wallet, amount=1_500, reference="item-001", actor="test", now=now, memo="potion"
    )
    hold = ledger.reserve(
        conn,
        wallet,
        amount=2_000,
        expires_in_seconds=600,
        reference="match-77",
        actor="test",
        now=now,
    )
    ledger.commit_hold(conn, wallet, hold.hold.id, actor="test", now=now, amount=1_200)
    spent = ledger.spend(
        conn, wallet, amount=3_000, reference="item-002", actor="test", now=now, memo="sword"
    )
    ledger.reverse_spend(conn, wallet, spent.journal_id, actor="test", now=now, reason="refund")


def _seed(conn: Connection, rt: Runtime) -> World:
    service, key = usecases.create_service(
        conn, name="Demo Game", currency="KRW", timezone="Asia/Seoul", clock=rt.clock
    )
    _alice(conn, rt, service)
    _member(conn, rt, service, "bob", 10_000)
    pat = usecases.create_member(conn, service, "pat", clock=rt.clock)
    for _ in range(25):
        ledger.grant(
            conn,
            usecases.wallet_ref(service, pat),
            amount=100,
            kind="paid",
            source="charge",
            actor="test",
            now=rt.clock.now(),
        )
    for external_id, status in (("sam", "suspended"), ("cleo", "closed")):
        _member(conn, rt, service, external_id, 1_000)
        usecases.change_member_status(conn, service, external_id, status, clock=rt.clock)
    other, _ = usecases.create_service(
        conn, name="Other Game", currency="KRW", timezone="Asia/Seoul", clock=rt.clock
    )
    _member(conn, rt, other, "zoe", 1_000)
    return World(
        service_id=service.id,
        service_name=service.name,
        api_key=key.plaintext,
        link_secret=tenancy.link_secret(conn, service.id),
        other_service_id=other.id,
        other_link_secret=tenancy.link_secret(conn, other.id),
    )


def seed(rt: Runtime) -> World:
    return rt.db.write(lambda conn: _seed(conn, rt))
