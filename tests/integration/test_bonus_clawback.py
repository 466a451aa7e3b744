"""Refunding a charge claws back the bonus it earned (both databases).

``pro_rata``: in proportion to what is refunded (rounded up), from what is left of the bonus;
``block``: a refund that would need bonus the member has spent is refused and nothing changes.
A refund the PG refuses puts the bonus back; a final refund returns it to the event's budget.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.kernel.errors import Conflict, InvalidInput
from coffer.ledger import takebacks
from coffer.ledger.tables import journals, lots
from coffer.payments import refunds as refunds_module
from coffer.payments.charges import charge_by_id, timeline
from coffer.payments.tables import refunds
from coffer.pricing import bonuses, usage
from coffer.pricing.tables import bonus_clawbacks
from coffer.server import create_server
from coffer.tenancy import service as tenancy
from coffer.tenancy.links import build_link
from coffer.web.admin.charges.common import explain
from tests.integration.bonus_support import (
    Scene,
    balance,
    bonus_lots,
    bonuses_of,
    budget_spent,
    charge,
    journal_kinds,
    new_event,
    new_scene,
    pg_cancelled,
    pg_refused,
    refund,
    spend,
)
from tests.integration.desk_support import Desk, audit_count, audit_rows
from tests.ledger_helpers import assert_invariants

TEN_PERCENT = {"tiers": [{"min_amount": 0, "percent_bp": 1000}], "bonus_days": 30}


def counts(db: Database) -> tuple[Any, ...]:
    def read(conn: Connection) -> tuple[Any, ...]:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (refunds, journals, bonus_clawbacks)
        )

    return db.read(read)


def lot_state(scene: Scene) -> list[tuple[Any, ...]]:
    query = select(lots.c.id, lots.c.remaining).order_by(lots.c.id)
    return scene.db.read(lambda c: [tuple(r) for r in c.execute(query)])


def test_a_full_refund_claws_back_the_whole_bonus(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock)
    event = new_event(scene, TEN_PERCENT, budget=5_000)
    done = charge(scene, "m0", 10_000)
    assert budget_spent(scene, event.id) == 1_000
    asked = refund(scene, done)
    assert asked.amount == 10_000
    assert balance(scene, "m0") == (0, 0)
    (given,) = bonuses_of(scene, done)
    assert (given.clawed_back, given.remaining) == (1_000, 0)
    (clawback,) = db.read(lambda c: bonuses.clawbacks_for_refund(c, str(asked.id)))
    assert (clawback.amount, clawback.reversal_journal_id) == (1_000, None)
    assert journal_kinds(scene, "m0")[-2:] == ["charge_refund", "bonus_clawback"]
    detail = db.read(lambda c: timeline(c, done.id))[-1].detail
    assert detail == {"refund_id": str(asked.id), "amount": 10_000, "bonus_clawed_back": 1_000}
    assert budget_spent(scene, event.id) == 1_000  # not back until the refund is final
    pg_cancelled(scene, asked.id)
    assert budget_spent(scene, event.id) == 0
    stats = db.read(lambda c: bonuses.event_stats(c, event.id))
    assert (stats.issued, stats.clawed_back, stats.net) == (1_000, 1_000, 0)
    charge(scene, "m1", 20_000)  # the admin overview's figures: net of the claw-back
    assert db.read(lambda c: usage.event_usage(c, [event.id, event.id])) == {
        event.id: usage.Usage(uses=2, members=2, amount=2_000)
    }
    assert_invariants(db)


def test_a_second_completion_of_a_refund_changes_nothing(db: Database, clock: ManualClock) -> None:
    """A replayed PG answer (the job and the janitor both saw the cancel) completes once: the
    charge's refunded amount and the event's budget move once."""
    scene = new_scene(db, clock)
    event = new_event(scene, TEN_PERCENT, budget=5_000)
    done = charge(scene, "m0", 10_000)
    asked = refund(scene, done, 4_000)
    pg_cancelled(scene, asked.id)
    after_first = (
        db.read(lambda c: refunds_module.get_refund(c, asked.id)).status,
        db.read(lambda c: charge_by_id(c, done.id)).refunded,
        budget_spent(scene, event.id),
    )
    assert after_first == ("done", 4_000, 1_000 - 400)
    pg_cancelled(scene, asked.id)
    assert (
        db.read(lambda c: refunds_module.get_refund(c, asked.id)).status,
        db.read(lambda c: charge_by_id(c, done.id)).refunded,
        budget_spent(scene, event.id),
    ) == after_first
    assert_invariants(db)


def test_partial_refunds_claw_back_in_proportion_rounded_up(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock)
    new_event(scene, {"tiers": [{"min_amount": 0, "percent_bp": 777}]})
    done = charge(scene, "m0", 10_000)
    (lot,) = bonus_lots(scene, "m0")
    assert lot.amount == 777
    first = refund(scene, done, 4_000)  # 40 %: ceil(310.8)
    assert bonuses_of(scene, done)[0].clawed_back == 311
    assert balance(scene, "m0") == (6_000, 466)
    pg_cancelled(scene, first.id)
    refund(scene, done, 1_000)  # 50 % in all: ceil(388.5) - 311
    assert bonuses_of(scene, done)[0].clawed_back == 389
    assert balance(scene, "m0") == (5_000, 388)
    assert_invariants(db)


def test_spent_bonus_under_pro_rata_claws_what_is_left(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock)
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 700)  # bonus first: 700 of the 1,000 bonus
    assert balance(scene, "m0") == (10_000, 300)
    refund(scene, done)
    (given,) = bonuses_of(scene, done)
    assert (given.clawed_back, given.remaining) == (300, 0)
    assert balance(scene, "m0") == (0, 0)
    assert_invariants(db)


def test_block_refuses_a_refund_of_spent_bonus_and_changes_nothing(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    assert scene.service.bonus_refund == "block"
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 700)
    before = (balance(scene, "m0"), lot_state(scene), counts(db))
    with pytest.raises(Conflict) as refused:
        refund(scene, done)
    assert refused.value.code == "bonus_spent_blocks_refund"
    assert (refused.value.details["owed"], refused.value.details["remaining"]) == (1_000, 300)
    assert (balance(scene, "m0"), lot_state(scene), counts(db)) == before
    # A part the rest of the bonus covers may still be refunded: 20 % owes 200 of it.
    refund(scene, done, 2_000)
    assert bonuses_of(scene, done)[0].clawed_back == 200
    assert balance(scene, "m0") == (8_000, 100)
    assert_invariants(db)


def test_block_lets_an_unspent_bonus_go_back_with_the_refund(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    refund(scene, done)
    assert bonuses_of(scene, done)[0].clawed_back == 1_000
    assert balance(scene, "m0") == (0, 0)
    assert_invariants(db)


def test_an_expired_bonus_never_blocks(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    new_event(scene, {"tiers": [{"min_amount": 0, "fixed": 500}], "bonus_days": 1})
    done = charge(scene, "m0", 10_000)
    clock.advance(timedelta(days=2))
    refund(scene, done)
    assert bonuses_of(scene, done)[0].clawed_back == 0  # its cash went to breakage
    assert balance(scene, "m0") == (0, 0)
    assert "bonus_clawback" not in journal_kinds(scene, "m0")
    assert_invariants(db)


def test_a_refused_pg_cancel_puts_the_bonus_back(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock)
    event = new_event(scene, TEN_PERCENT, budget=2_000)
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 200)
    asked = refund(scene, done, 5_000)
    assert balance(scene, "m0") == (5_000, 300)  # 500 of the 800 left clawed back
    pg_refused(scene, asked.id)
    assert balance(scene, "m0") == (10_000, 800)
    (given,) = bonuses_of(scene, done)
    assert (given.clawed_back, given.remaining) == (0, 800)
    (clawback,) = db.read(lambda c: bonuses.clawbacks_for_refund(c, str(asked.id)))
    assert clawback.reversal_journal_id is not None
    assert journal_kinds(scene, "m0")[-2:] == ["charge_refund_reversal", "bonus_clawback_reversal"]
    assert budget_spent(scene, event.id) == 1_000  # nothing went back to the budget
    detail = db.read(lambda c: timeline(c, done.id))[-1].detail
    assert detail is not None
    assert detail["bonus_restored"] == 500
    # The refund can be asked again, and claws back again.
    again = refund(scene, done, 5_000)
    assert bonuses_of(scene, done)[0].clawed_back == 500
    pg_cancelled(scene, again.id)
    assert budget_spent(scene, event.id) == 500
    assert_invariants(db)


def test_carrier_billing_after_its_month_claws_back_with_the_bank_refund(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock)
    event = new_event(scene, {"tiers": [{"min_amount": 0, "percent_bp": 1000}]}, budget=3_000)
    done = charge(scene, "m0", 10_000, method="mobile")
    clock.advance(timedelta(days=40))
    asked = refund(scene, done)
    assert (asked.kind, asked.status) == ("bank_refund", "requested")
    assert bonuses_of(scene, done)[0].clawed_back == 1_000
    assert balance(scene, "m0") == (0, 0)
    assert budget_spent(scene, event.id) == 0  # a bank refund is final at once
    assert_invariants(db)


def test_a_charge_without_bonus_refunds_as_before(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 1_000)
    asked = refund(scene, done)
    assert asked.amount == 9_000
    assert db.read(lambda c: bonuses.clawbacks_for_refund(c, str(asked.id))) == []


def test_the_ledger_claws_back_only_what_a_bonus_lot_has(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock)
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    (lot,) = bonus_lots(scene, "m0")
    now = clock.now()

    def claw(lot_id: Any, amount: int) -> Any:
        def work(conn: Connection) -> Any:
            member = tenancy.get_member(conn, scene.service.id, "m0")
            wallet = app.resolve_wallet(conn, scene.service.id, member.id)
            return takebacks.claw_back(
                conn, wallet, lot_id, amount=amount, reference="t", actor="t", now=now
            )

        return db.write(work)

    for lot_id, amount in ((lot.id, 1_001), (done.lot_id, 1)):  # too much; a paid lot
        with pytest.raises(Conflict) as refused:
            claw(lot_id, amount)
        assert refused.value.code == "clawback_exceeds_remaining"
    with pytest.raises(InvalidInput):
        claw(lot.id, 0)
    taken = claw(lot.id, 400)

    def reverse(conn: Connection) -> Any:
        member = tenancy.get_member(conn, scene.service.id, "m0")
        wallet = app.resolve_wallet(conn, scene.service.id, member.id)
        return takebacks.reverse_claw_back(conn, wallet, taken.journal_id, actor="t", now=now)

    assert db.write(reverse).amount == 400
    with pytest.raises(Conflict) as twice:
        db.write(reverse)
    assert twice.value.code == "already_reversed"
    assert balance(scene, "m0") == (10_000, 1_000)
    assert_invariants(db)


def test_the_bonus_refund_setting_is_checked(db: Database, clock: ManualClock) -> None:
    scene = new_scene(db, clock)
    assert scene.service.bonus_refund == "pro_rata"
    with pytest.raises(InvalidInput) as bad:
        db.write(
            lambda c: tenancy.update_service_settings(c, scene.service.id, bonus_refund="some")
        )
    assert bad.value.code == "invalid_bonus_refund"
    changed = db.write(
        lambda c: tenancy.update_service_settings(c, scene.service.id, bonus_refund="block")
    )
    assert changed.bonus_refund == "block"


# --- the pages ------------------------------------------------------------------------------


def _cash_browser(scene: Scene, external_id: str) -> tuple[TestClient, str]:
    """A member's browser signed in to the cash web (English), and its CSRF token."""
    server = create_server(Runtime(Settings.from_env({}), scene.db, scene.clock))
    web = TestClient(server, base_url="http://testserver", follow_redirects=False)
    web.headers["Accept-Language"] = "en"
    secret = scene.db.read(lambda c: tenancy.link_secret(c, scene.service.id))
    ts = int(scene.clock.now().timestamp())
    entered = web.get(build_link("http://testserver", secret, scene.service.id, external_id, ts))
    assert entered.status_code == 303, entered.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/cash").text)
    assert found is not None
    return web, found.group(1)


def _note(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</p>', html, re.S)
    assert found is not None, f"no {testid} on the page"
    return found.group(1).replace("&#39;", "'").strip()


def test_the_cash_web_says_a_refund_takes_the_bonus_back_in_proportion(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock)
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    spend(scene, "m0", 1_400)  # all the bonus and 400 of the paid cash
    plain = charge(scene, "m0", 5_000)
    assert [b.amount for b in bonuses_of(scene, plain)] == [500]
    web, _csrf = _cash_browser(scene, "m0")
    page = web.get(f"/cash/charges/{done.id}").text
    assert 'data-testid="charge-bonus">₩1,000<' in page
    # 9,600 of 10,000 is refundable: ceil(960) owed, but the bonus has nothing left.
    assert _note(page, "refund-bonus-note") == (
        "Refunding takes back the bonus this charge earned, in proportion (₩0)."
    )
    button = re.search(r'data-testid="refund-submit"[^>]*>', page)
    assert button is not None
    assert "disabled" not in button.group(0)
    listed = web.get("/cash/charges").text
    assert f'data-testid="refund-link-{done.id}"' in listed
    assert f'data-testid="bonus-note-{done.id}"' in listed
    assert _note(listed, f"bonus-note-{plain.id}") == (
        "Refunding takes back the bonus this charge earned, in proportion (₩500)."
    )
    web.close()


def test_the_cash_web_says_a_spent_bonus_blocks_the_refund(
    db: Database, clock: ManualClock
) -> None:
    scene = new_scene(db, clock, bonus_refund="block")
    new_event(scene, TEN_PERCENT)
    done = charge(scene, "m0", 10_000)
    web, csrf = _cash_browser(scene, "m0")
    page = web.get(f"/cash/charges/{done.id}").text
    assert _note(page, "refund-bonus-note") == (
        "Refunding takes back the bonus this charge earned (₩1,000). Once the bonus has been "
        "used, this charge cannot be refunded."
    )
    spend(scene, "m0", 500)
    blocked = "This charge's bonus has been used, so it cannot be refunded."
    page = web.get(f"/cash/charges/{done.id}").text
    assert _note(page, "refund-bonus-note") == blocked
    button = re.search(r'data-testid="refund-submit"[^>]*>', page)
    assert button is not None
    assert 'disabled aria-describedby="refund-bonus-note"' in button.group(0)
    listed = web.get("/cash/charges").text
    assert f'data-testid="refund-link-{done.id}"' not in listed
    assert _note(listed, f"bonus-note-{done.id}") == blocked
    # Posting anyway is refused with the same words, and nothing changes.
    before = (balance(scene, "m0"), counts(db))
    response = web.post(
        f"/cash/charges/{done.id}/refund", data={"csrf_token": csrf, "reason": "please"}
    )
    assert response.status_code == 409
    found = re.search(r'data-testid="refund-error-form">(.*?)</p>', response.text, re.S)
    assert found is not None
    assert found.group(1).replace("&#39;", "'") == blocked
    assert (balance(scene, "m0"), counts(db)) == before
    web.close()


def test_the_admin_changes_the_bonus_refund_rule_with_an_audit_row(
    db: Database, clock: ManualClock
) -> None:
    desk = Desk(db, clock)
    try:
        service = desk.service("Acme")
        operator = desk.admin("operator")
        path = f"/admin/services/{service.id}"
        page = operator.get(path).text
        assert 'data-testid="settings-bonus-refund"' in page
        form = {
            "consumption_order": "bonus_first", "bonus_refund": "block",
            "timezone": "Asia/Seoul", "grant_approval_threshold": "", "webhook_url": "",
        }  # fmt: skip
        assert operator.post(path + "/settings", form).status_code == 303
        assert db.read(lambda c: tenancy.get_service(c, service.id)).bonus_refund == "block"
        [row] = audit_rows(db, "services.settings")
        assert (row["before"]["bonus_refund"], row["after"]["bonus_refund"]) == (
            "pro_rata", "block",
        )  # fmt: skip
        audits = audit_count(db)
        bad = operator.post(path + "/settings", {**form, "bonus_refund": "sometimes"})
        assert bad.status_code == 422
        assert db.read(lambda c: tenancy.get_service(c, service.id)).bonus_refund == "block"
        assert audit_count(db) == audits
    finally:
        desk.close()


def test_the_admin_refund_form_says_why_a_blocked_refund_is_refused() -> None:
    refused = Conflict(
        "bonus_spent_blocks_refund", "…", {"owed": 1_000, "remaining": 250, "bonus_id": "b"}
    )
    assert explain(refused, lambda text: text) == (
        "This charge's event bonus has been spent: the refund would take back 1,000 of it but "
        "only 250 is left. The service refuses such refunds (bonus refund rule: block)."
    )
