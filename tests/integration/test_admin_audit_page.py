"""The audit-log page: filters, paging, the chain indicator, bad filters."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from sqlalchemy import update

from coffer.audit import service as audit
from coffer.audit.tables import audit_log
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.admin_web import signed_in


def _grants(db: Database, clock: ManualClock, count: int) -> None:
    """``count`` grants an hour apart from now on (the clock stays: sessions stay fresh)."""
    for n in range(count):
        db.write(
            lambda conn, n=n: audit.record(
                conn,
                actor="admin:cs@example.com",
                action="cash.grant",
                target_type="member",
                target_id=f"m-{n}",
                service_id=None,
                before={"bonus": 0},
                after={"bonus": 100 * n},
                reason=f"goodwill {n}",
                address="10.0.0.9",
                now=clock.now() + timedelta(hours=n),
            )
        )


def test_browse_filter_and_page(db: Database, clock: ManualClock) -> None:
    web, _ = signed_in(db, clock, "accountant")  # writes admin.login as row 1
    _grants(db, clock, 60)
    page = web.get("/admin/audit")
    assert page.status_code == 200
    assert page.text.count("<tr data-seq=") == 50
    assert 'rel="next"' in page.text
    older = web.get("/admin/audit?before=12")
    assert older.text.count("<tr data-seq=") == 11
    only = web.get("/admin/audit?target=m-7")
    assert only.text.count("<tr data-seq=") == 1
    assert "goodwill 7" in only.text
    logins = web.get("/admin/audit?action=admin.login")
    assert logins.text.count("<tr data-seq=") == 1
    by_day = web.get("/admin/audit?from=2026-03-01&to=2026-03-01")  # KST day: 00:00Z = 09:00
    assert by_day.status_code == 200
    assert by_day.text.count("<tr data-seq=") == 16  # the login and 15 grants before midnight
    nothing = web.get(f"/admin/audit?service={uuid4()}")
    assert "No entries match these filters." in nothing.text


def test_bad_filters_are_400_with_the_field_named(db: Database, clock: ManualClock) -> None:
    web, _ = signed_in(db, clock, "operator")
    for query in ("from=yesterday", "to=2026-13-01", "service=not-a-uuid", "actor=" + "x" * 400):
        response = web.get(f"/admin/audit?{query}")
        assert response.status_code == 400, query
        assert 'aria-invalid="true"' in response.text


def test_chain_indicator(db: Database, clock: ManualClock) -> None:
    web, _ = signed_in(db, clock, "superuser")
    _grants(db, clock, 3)
    ok = web.get("/admin/audit/verify")
    assert ok.status_code == 200
    assert 'data-chain="ok"' in ok.text
    db.write(
        lambda conn: conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(reason="x"))
    )
    broken = web.get("/admin/audit/verify")
    assert 'data-chain="broken"' in broken.text
    assert "Chain broken at row 3" in broken.text
