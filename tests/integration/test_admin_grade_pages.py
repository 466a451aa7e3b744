"""The grades admin: the rule editor, members per grade, "recompute now", and the grade section
of the CS member page (override, clear, history); permissions, audit rows, and bad input that
changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import markupsafe
import pytest
from sqlalchemy import func, select

from coffer import app
from coffer.db.transaction import Database
from coffer.grades import service as grades
from coffer.grades.model import GradeRule
from coffer.grades.tables import grade_history, grade_overrides
from coffer.kernel.clock import ManualClock
from coffer.ledger import service as ledger
from coffer.tenancy import service as tenancy
from coffer.tenancy.model import Member, Service
from tests.integration.desk_support import Admin, Desk, audit_count, audit_rows, member_path

RULES = [
    GradeRule("bronze", 0, 0, 90),
    GradeRule("silver", 10, 100_000, 90),
    GradeRule("gold", 20, 300_000, 90),
]


@pytest.fixture
def desk(db: Database, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk(db, clock)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def service(desk: Desk) -> Service:
    return desk.service("Acme")


def _admin(desk: Desk, role: str) -> Admin:
    admin = desk.admin(role)
    admin.client.headers["Accept-Language"] = "en"
    return admin


def _rules(db: Database, service: Service) -> list[GradeRule]:
    return db.read(lambda c: grades.rules(c, service.id))


def _set_rules(desk: Desk, service: Service) -> None:
    desk.db.write(lambda c: grades.set_rules(c, service.id, RULES, "test", desk.clock.now()))


def _form(rules: list[tuple[str, str, str, str]]) -> dict[str, str]:
    data: dict[str, str] = {}
    for i, (grade, rank, min_paid, window) in enumerate(rules):
        data |= {
            f"grade-{i}": grade,
            f"rank-{i}": rank,
            f"min_paid-{i}": min_paid,
            f"window_days-{i}": window,
        }
    return data


def _charge(desk: Desk, service: Service, member: Member, amount: int) -> None:
    wallet = app.wallet_ref(service, member)
    desk.db.write(
        lambda c: ledger.grant(
            c, wallet, amount=amount, kind="paid", source="charge", actor="t",
            now=desk.clock.now(),
        )
    )  # fmt: skip


def _grade(desk: Desk, service: Service, external_id: str) -> str:
    return desk.db.read(lambda c: tenancy.get_member(c, service.id, external_id)).grade


def _count(db: Database, table: Any) -> int:
    return int(db.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


# --- the rules page -------------------------------------------------------------------------


def test_a_marketer_saves_rules_and_recomputes(desk: Desk, service: Service) -> None:
    marketer = _admin(desk, "marketer")
    ann = desk.member(service, "ann")
    desk.member(service, "bob")
    _charge(desk, service, ann, 150_000)

    home = marketer.get(f"/admin/grades?service={service.id}")
    assert home.status_code == 303
    assert home.headers["location"] == f"/admin/grades/{service.id}"
    page = marketer.get(f"/admin/grades/{service.id}")
    assert page.status_code == 200
    assert 'data-testid="no-grade-rules"' in page.text
    assert 'data-testid="grade-rules-form"' in page.text

    saved = marketer.post(
        f"/admin/grades/{service.id}/rules",
        _form([("gold", "20", "300000", "90"), ("", "", "", ""), ("bronze", "0", "0", "90"),
               ("silver", "10", "100000", "90")]),
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    assert _rules(desk.db, service) == RULES
    [row] = audit_rows(desk.db, "grades.rules")
    assert row["actor"] == "admin:marketer@example.com"
    assert row["before"] == []
    assert row["after"][2] == {"grade": "gold", "rank": 20, "min_paid": 300000, "window_days": 90}

    # The same set again changes nothing and records nothing.
    again = marketer.post(
        f"/admin/grades/{service.id}/rules",
        _form([("bronze", "0", "0", "90"), ("silver", "10", "100000", "90"),
               ("gold", "20", "300000", "90")]),
    )  # fmt: skip
    assert again.status_code == 303
    assert audit_count(desk.db, "grades.rules") == 1

    page = marketer.get(f"/admin/grades/{service.id}", follow_redirects=True)
    assert 'data-testid="grade-rule-gold"' in page.text
    assert 'data-testid="grade-count-basic" data-count="2"' in page.text
    assert 'data-testid="grade-count-gold" data-count="0"' in page.text

    done = marketer.post(f"/admin/grades/{service.id}/recompute")
    assert done.status_code == 303
    shown = marketer.get(f"/admin/grades/{service.id}")
    assert "Grades recomputed: 2 changed, 0 unchanged, 0 left alone (override)." in shown.text
    assert 'data-testid="grade-count-silver" data-count="1"' in shown.text
    assert 'data-testid="grade-count-bronze" data-count="1"' in shown.text
    assert 'data-testid="grade-count-basic"' not in shown.text
    assert _grade(desk, service, "ann") == "silver"
    [row] = audit_rows(desk.db, "grades.recompute")
    assert row["after"] == {"changed": 2, "unchanged": 0, "skipped_overridden": 0}
    history = desk.db.read(lambda c: grades.history(c, ann.id, 5))
    assert [(h.to_grade, h.source, h.actor) for h in history] == [
        ("silver", "rule", "admin:marketer@example.com")
    ]


@pytest.mark.parametrize(
    ("rows", "field", "message"),
    [
        ([("bronze", "0", "0", "90"), ("gold", "20", "-5", "90")], "min_paid-1",
         "Enter a whole number of won/yen"),
        ([("bronze", "0", "0", "90"), ("gold", "x", "5", "90")], "rank-1",
         "Enter a whole number."),
        ([("bronze", "0", "0", "90"), ("", "1", "5", "90")], "grade-1", "Enter a grade."),
        ([("bronze", "0", "0", "90"), ("gold", "1", "5", "0")], "window_days-1",
         "Enter a number of days from 1 to 3660."),
        ([("bronze", "0", "0", "90"), ("gold", "1", "5", "9999")], "window_days-1",
         "Enter a number of days from 1 to 3660."),
        ([("silver", "0", "10", "90"), ("gold", "1", "50", "90")], "rules",
         "Exactly one rule, the base grade, needs a paid total of 0."),
        ([("bronze", "0", "0", "90"), ("gold", "2", "50", "90"), ("silver", "1", "80", "90")],
         "rules", "A higher rank cannot need a smaller paid total than a lower rank."),
        ([("bronze", "0", "0", "90"), ("bronze", "1", "50", "90")], "rules",
         "Each grade may appear in one rule only."),
        ([("bronze", "0", "0", "90"), ("gold", "0", "50", "90")], "rules",
         "Each rank may appear in one rule only."),
        ([], "rules", "Enter at least one rule."),
    ],
)  # fmt: skip
def test_bad_rules_are_a_422_page_and_change_nothing(
    desk: Desk, service: Service, rows: list[tuple[str, str, str, str]], field: str, message: str
) -> None:
    operator = _admin(desk, "operator")
    _set_rules(desk, service)
    refused = operator.post(f"/admin/grades/{service.id}/rules", _form(rows))
    assert refused.status_code == 422
    assert f'data-testid="rules-error-{field}"' in refused.text
    assert str(markupsafe.escape(message)) in refused.text
    # What was typed is shown again.
    for grade, *_rest in rows:
        assert f'value="{grade}"' in refused.text
    assert _rules(desk.db, service) == RULES
    assert audit_count(desk.db, "grades.rules") == 0


def test_permissions_of_the_rules_page(desk: Desk, service: Service) -> None:
    _set_rules(desk, service)
    accountant = _admin(desk, "accountant")
    page = accountant.get(f"/admin/grades/{service.id}")
    assert page.status_code == 200
    assert 'data-testid="grade-rules"' in page.text
    assert 'data-testid="grade-rules-form"' not in page.text
    assert 'data-testid="grade-recompute"' not in page.text
    refused = accountant.post(
        f"/admin/grades/{service.id}/rules", _form([("only", "0", "0", "30")])
    )
    assert refused.status_code == 403
    assert accountant.post(f"/admin/grades/{service.id}/recompute").status_code == 403
    assert _rules(desk.db, service) == RULES
    assert audit_count(desk.db, "grades.rules") == 0
    assert audit_count(desk.db, "grades.recompute") == 0
    # Unknown and malformed services are 404 pages.
    assert accountant.get("/admin/grades/not-a-uuid").status_code == 404
    operator = _admin(desk, "operator")
    missing = operator.post(
        "/admin/grades/00000000-0000-0000-0000-000000000000/rules",
        _form([("only", "0", "0", "30")]),
    )
    assert missing.status_code == 404


def test_recompute_without_rules_says_so(desk: Desk, service: Service) -> None:
    operator = _admin(desk, "operator")
    answer = operator.post(f"/admin/grades/{service.id}/recompute")
    assert answer.status_code == 303
    page = operator.get(f"/admin/grades/{service.id}")
    assert "This service has no grade rules: save some first." in page.text
    assert audit_count(desk.db, "grades.recompute") == 0


# --- the member page ------------------------------------------------------------------------


def test_cs_overrides_a_grade_and_clears_it(desk: Desk, service: Service) -> None:
    _set_rules(desk, service)
    ann = desk.member(service, "ann")
    _charge(desk, service, ann, 120_000)
    cs = _admin(desk, "cs")
    page = cs.get(member_path(service, "ann"))
    assert page.status_code == 200
    assert 'data-testid="grade-history-empty"' in page.text
    assert '<option value="gold"' in page.text
    assert 'data-testid="grade-clear-form"' not in page.text

    done = cs.post(
        member_path(service, "ann") + "/grade-override",
        {"grade": "gold", "until": "2026-03-31", "reason": "VIP event winner"},
    )
    assert done.status_code == 303, done.text
    assert _grade(desk, service, "ann") == "gold"
    found = desk.db.read(lambda c: grades.get_override(c, ann.id))
    assert found is not None
    # The end of 31 March in Asia/Seoul.
    assert found.until is not None
    assert found.until.isoformat() == "2026-03-31T15:00:00+00:00"
    [row] = audit_rows(desk.db, "grades.override")
    assert row["reason"] == "VIP event winner"
    assert row["after"]["grade"] == "gold"
    assert row["before"]["override"] is None

    page = cs.get(member_path(service, "ann"))
    assert "The member&#39;s grade is now gold (set by hand)." in page.text
    assert 'data-testid="grade-override" data-in-force="yes"' in page.text
    assert 'data-source="override"' in page.text
    assert "VIP event winner" in page.text

    cleared = cs.post(
        member_path(service, "ann") + "/grade-override/clear", {"reason": "event over"}
    )
    assert cleared.status_code == 303
    assert _grade(desk, service, "ann") == "silver"
    assert desk.db.read(lambda c: grades.get_override(c, ann.id)) is None
    assert audit_rows(desk.db, "grades.override_clear")[0]["after"]["grade"] == "silver"
    page = cs.get(member_path(service, "ann"))
    assert 'data-source="override_ended"' in page.text
    assert 'data-testid="grade-clear-form"' not in page.text


@pytest.mark.parametrize(
    ("data", "field", "message", "status"),
    [
        ({"grade": "platinum", "reason": "x"}, "grade", "Choose one of the service's grades.",
         422),
        ({"grade": "gold", "until": "2026-02-28", "reason": "x"}, "until",
         "Choose a day from today on.", 422),
        ({"grade": "gold", "until": "31/03/2026", "reason": "x"}, "until",
         "Enter a date as YYYY-MM-DD.", 422),
        ({"grade": "gold", "reason": ""}, "reason", "A reason is required.", 422),
        ({"grade": "", "reason": "x"}, "grade", "Choose a grade.", 422),
    ],
)  # fmt: skip
def test_bad_overrides_change_nothing(
    desk: Desk, service: Service, data: dict[str, str], field: str, message: str, status: int
) -> None:
    _set_rules(desk, service)
    desk.member(service, "ann")
    cs = _admin(desk, "cs")
    refused = cs.post(member_path(service, "ann") + "/grade-override", data)
    assert refused.status_code == status
    assert f'data-testid="grade_override-error-{field}"' in refused.text
    assert str(markupsafe.escape(message)) in refused.text
    assert _grade(desk, service, "ann") == "basic"
    assert _count(desk.db, grade_overrides) == 0
    assert _count(desk.db, grade_history) == 0
    assert audit_count(desk.db, "grades.override") == 0


def test_clearing_without_an_override_is_refused(desk: Desk, service: Service) -> None:
    desk.member(service, "ann")
    cs = _admin(desk, "cs")
    refused = cs.post(member_path(service, "ann") + "/grade-override/clear", {"reason": "x"})
    assert refused.status_code == 409
    assert "The member has no grade override." in refused.text
    assert audit_count(desk.db, "grades.override_clear") == 0


def test_override_permissions(desk: Desk, service: Service) -> None:
    _set_rules(desk, service)
    desk.member(service, "ann")
    marketer = _admin(desk, "marketer")
    page = marketer.get(member_path(service, "ann"))
    assert 'data-testid="member-grade-section"' in page.text
    assert 'data-testid="grade-override-form"' not in page.text
    refused = marketer.post(
        member_path(service, "ann") + "/grade-override", {"grade": "gold", "reason": "x"}
    )
    assert refused.status_code == 403
    assert _grade(desk, service, "ann") == "basic"
    assert _count(desk.db, grade_history) == 0
    missing = _admin(desk, "cs").post(
        member_path(service, "nobody") + "/grade-override", {"grade": "gold", "reason": "x"}
    )
    assert missing.status_code == 404


def test_without_rules_any_grade_can_be_typed(desk: Desk, service: Service) -> None:
    desk.member(service, "ann")
    operator = _admin(desk, "operator")
    page = operator.get(member_path(service, "ann"))
    assert 'id="override-grade" name="grade" maxlength="40"' in page.text
    done = operator.post(
        member_path(service, "ann") + "/grade-override", {"grade": "partner", "reason": "deal"}
    )
    assert done.status_code == 303
    assert _grade(desk, service, "ann") == "partner"
    assert json.loads(json.dumps(audit_rows(desk.db, "grades.override")[0]["after"])) == {
        "external_id": "ann",
        "grade": "partner",
        "override": {"grade": "partner", "until": None, "reason": "deal"},
    }
