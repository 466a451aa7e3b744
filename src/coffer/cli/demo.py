"""Demo data for ``coffer up``: one service, its API key, and members with some history.

The key is kept in ``<data dir>/demo-service.json`` (the data directory is local and ignored by
git) so that every ``coffer up`` can print it again; keys are otherwise shown only once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from coffer import app as usecases
from coffer.app import Runtime
from coffer.kernel.errors import NotFound
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy

DEMO_MEMBERS: tuple[tuple[str, str, int, int], ...] = (
    # external id, grade, paid cash, bonus cash (expires in 14 days)
    ("alice", "gold", 50_000, 5_000),
    ("bob", "silver", 12_000, 2_000),
    ("carol", "basic", 3_000, 0),
)


def ensure_demo(rt: Runtime) -> dict[str, Any]:
    """Create the demo service on first run; return its id, name, currency and API key."""
    path = rt.settings.data_dir / "demo-service.json"
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        try:
            rt.db.read(lambda conn: tenancy.get_service(conn, UUID(saved["service_id"])))
            return saved
        except NotFound:
            pass
    demo = rt.db.write(lambda conn: _seed(conn, rt))
    rt.settings.ensure_data_dir()
    path.write_text(json.dumps(demo, indent=2))
    path.chmod(0o600)
    return demo


def _seed(conn: Any, rt: Runtime) -> dict[str, Any]:
    now = rt.clock.now()
    service, key = usecases.create_service(
        conn,
        name="Demo Game",
        currency="KRW",
        timezone="Asia/Seoul",
        clock=rt.clock,
        key_label="demo (coffer up)",
    )
    for external_id, grade, paid, bonus in DEMO_MEMBERS:
        member = usecases.create_member(conn, service, external_id, clock=rt.clock, grade=grade)
        wallet = usecases.wallet_ref(service, member)
        ledger.grant(
            conn,
            wallet,
            amount=paid,
            kind="paid",
            source="admin",
            actor="system:demo",
            now=now,
            reason="demo opening balance",
            external_id=external_id,
        )
        if bonus:
            ledger.grant(
                conn,
                wallet,
                amount=bonus,
                kind="bonus",
                source="event",
                actor="system:demo",
                now=now,
                reason="welcome event",
                expires_at=now + timedelta(days=14),
                external_id=external_id,
            )
        ledger.spend(
            conn,
            wallet,
            amount=min(paid, 1_500),
            reference="demo-item-001",
            actor="system:demo",
            now=now,
            memo="potion bundle",
            external_id=external_id,
        )
    return {
        "service_id": str(service.id),
        "name": service.name,
        "currency": service.currency,
        "api_key": key.plaintext,
    }
