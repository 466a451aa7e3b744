"""Signing in and out of the admin web, lock-out, sessions and CSRF, over the whole server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from coffer.admins import service as admins
from coffer.admins.tables import admin_sessions
from coffer.audit import service as audit
from coffer.audit.tables import audit_log
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.web.admin.auth_cookies import LOGIN_COOKIE, SESSION_COOKIE
from tests.admin_web import (
    PASSWORD,
    client,
    csrf_token,
    form_token,
    make_admin,
    post_login,
    signed_in,
)

WRONG = "Wrong email or password."
LOCKED = "the account is locked"


def _actions(db: Database) -> list[tuple[str, str]]:
    entries = db.read(lambda conn: audit.browse(conn, limit=500)).entries
    return [(e.action, e.reason) for e in reversed(entries)]


def _set_cookie(response: Any, name: str) -> str:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    return next(h for h in headers if h.startswith(f"{name}="))


def test_sign_in_sets_a_safe_session_cookie_and_writes_an_audit_row(
    db: Database, clock: ManualClock
) -> None:
    admin = make_admin(db, clock, "cs", email="CS.Agent@Example.com")
    web = client(db, clock)
    assert web.get("/admin/audit").headers["location"] == "/admin/login?next=%2Fadmin%2Faudit"
    response: Any = post_login(web, "cs.agent@example.com", next_url="/admin/members?q=alice")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/members?q=alice"
    cookie = _set_cookie(response, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/admin" in cookie
    assert "secure" not in cookie  # plain http in this test
    token = web.cookies.get(SESSION_COOKIE)
    stored = db.read(lambda conn: conn.execute(select(admin_sessions.c.token_hash)).scalars().all())
    assert token
    assert token not in stored
    assert len(stored) == 1
    assert _actions(db) == [("admin.login", "")]
    assert db.read(lambda conn: admins.get_admin(conn, admin.id)).last_login_at == clock.now()
    assert web.get("/admin/login").status_code == 303  # already signed in


def test_cookies_are_secure_over_https(db: Database, clock: ManualClock) -> None:
    make_admin(db, clock, "operator")
    web = client(db, clock, base_url="https://testserver")
    response: Any = post_login(web, "operator@example.com")
    assert response.status_code == 303
    assert "secure" in _set_cookie(response, SESSION_COOKIE).lower()


def test_wrong_password_and_unknown_email_look_the_same(db: Database, clock: ManualClock) -> None:
    make_admin(db, clock, "cs")
    web = client(db, clock)
    wrong: Any = post_login(web, "cs@example.com", "not the password")
    unknown: Any = post_login(web, "nobody@example.com", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert WRONG in response.text
        assert SESSION_COOKIE not in web.cookies
    assert _actions(db) == [
        ("admin.login_failed", "wrong_password"),
        ("admin.login_failed", "unknown_email"),
    ]


def test_five_failures_lock_the_account_for_fifteen_minutes(
    db: Database, clock: ManualClock
) -> None:
    make_admin(db, clock, "cs")
    web = client(db, clock)
    for attempt in range(1, 6):
        response: Any = post_login(web, "cs@example.com", "wrong password!")
        assert response.status_code == 401
        assert (LOCKED in response.text) == (attempt == 5), attempt
    locked: Any = post_login(web, "cs@example.com")  # the right password, but locked
    assert locked.status_code == 401
    assert LOCKED in locked.text
    assert SESSION_COOKIE not in web.cookies
    clock.advance(timedelta(minutes=14))
    assert LOCKED in post_login(web, "cs@example.com").text  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=1))
    assert getattr(post_login(web, "cs@example.com"), "status_code", None) == 303
    assert [a for a in _actions(db) if a[0] == "admin.login_failed"][-2:] == [
        ("admin.login_failed", "locked"),
        ("admin.login_failed", "locked"),
    ]


def test_unknown_emails_lock_too_so_locking_reveals_nothing(
    db: Database, clock: ManualClock
) -> None:
    web = client(db, clock)
    texts = [post_login(web, "ghost@example.com", "guess number 1").text for _ in range(6)]  # type: ignore[attr-defined]
    assert [LOCKED in text for text in texts] == [False, False, False, False, True, True]


def test_a_disabled_admin_cannot_sign_in_and_loses_open_sessions(
    db: Database, clock: ManualClock
) -> None:
    web, _ = signed_in(db, clock, "operator")
    assert web.get("/admin/audit").status_code == 200
    db.write(
        lambda conn: admins.set_status(conn, "operator@example.com", "disabled", now=clock.now())
    )
    assert web.get("/admin/audit").status_code == 303
    again: Any = post_login(client(db, clock), "operator@example.com")
    assert again.status_code == 401
    assert WRONG in again.text


def test_the_sign_in_form_needs_its_token(db: Database, clock: ManualClock) -> None:
    admin = make_admin(db, clock, "cs")
    web = client(db, clock)
    data = {"email": admin.email, "password": PASSWORD, "csrf_token": "forged"}
    no_cookie = web.post("/admin/login", data=data)
    assert no_cookie.status_code == 403
    page = web.get("/admin/login")
    assert LOGIN_COOKIE in web.cookies
    wrong = web.post("/admin/login", data=data)
    assert wrong.status_code == 403
    missing = web.post("/admin/login", data={"email": admin.email, "password": PASSWORD})
    assert missing.status_code == 403
    assert SESSION_COOKIE not in web.cookies
    assert _actions(db) == []  # refused before any password was checked
    assert db.read(lambda conn: admins.get_admin(conn, admin.id)).failed_attempts == 0
    stale = web.post("/admin/login", data={**data, "csrf_token": form_token(page.text)})
    assert stale.status_code == 403  # every refusal hands out a new token
    ok = web.post("/admin/login", data={**data, "csrf_token": form_token(stale.text)})
    assert ok.status_code == 303


def test_next_never_leaves_the_admin_web(db: Database, clock: ManualClock) -> None:
    make_admin(db, clock, "cs")
    for given in (
        "https://evil.example/",
        "//evil.example/admin",
        "/\\evil.example",
        "/cash/overview",
        "/administrator",
        "/admin/login",
        "javascript:alert(1)",
    ):
        response: Any = post_login(client(db, clock), "cs@example.com", next_url=given)
        assert response.headers["location"] == "/admin", given
    kept: Any = post_login(client(db, clock), "cs@example.com", next_url="/admin/audit?page=2")
    assert kept.headers["location"] == "/admin/audit?page=2"


def test_sign_out_needs_the_csrf_token_then_ends_the_session(
    db: Database, clock: ManualClock
) -> None:
    web, token = signed_in(db, clock, "viewer")
    refused = web.post("/admin/logout")
    assert refused.status_code == 403
    refused = web.post("/admin/logout", data={"csrf_token": "x" + token[1:]})
    assert refused.status_code == 403
    assert web.get("/admin/login").status_code == 303  # still signed in
    old_cookie = web.cookies.get(SESSION_COOKIE)
    done = web.post("/admin/logout", headers={"X-CSRF-Token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/login"
    assert SESSION_COOKIE not in web.cookies
    login_page = web.get("/admin/login")
    assert "You have signed out." in login_page.text
    replay = client(db, clock)
    replay.cookies.set(SESSION_COOKIE, old_cookie or "", path="/admin")
    assert replay.get("/admin/audit").status_code == 303
    assert [a for a, _ in _actions(db)] == ["admin.login", "admin.logout"]


def test_sessions_expire_when_idle_or_too_old(db: Database, clock: ManualClock) -> None:
    web, _ = signed_in(db, clock, "operator")
    clock.advance(timedelta(minutes=29))
    assert web.get("/admin/audit").status_code == 200  # activity pushes the idle end back
    clock.advance(timedelta(minutes=29))
    assert web.get("/admin/audit").status_code == 200
    clock.advance(timedelta(minutes=31))
    assert web.get("/admin/audit").status_code == 303

    web, _ = signed_in(db, clock, "accountant")
    for _ in range(12 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert web.get("/admin/audit").status_code == 200
    clock.advance(timedelta(minutes=20))  # 12 hours after signing in
    assert web.get("/admin/audit").status_code == 303


def test_without_a_session_posts_get_401_and_htmx_is_sent_to_sign_in(
    db: Database, clock: ManualClock
) -> None:
    web = client(db, clock)
    assert web.post("/admin/logout", data={"csrf_token": "x"}).status_code == 401
    htmx = web.get("/admin/audit/verify", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/admin/login?next=%2Fadmin%2Faudit%2Fverify"


def test_signing_in_again_ends_the_previous_session(db: Database, clock: ManualClock) -> None:
    web, _ = signed_in(db, clock, "cs")
    first = web.cookies.get(SESSION_COOKIE)
    web.cookies.clear()
    web.cookies.set(SESSION_COOKIE, first or "", path="/admin")
    page = web.get("/admin/login?next=/admin/audit")
    assert page.status_code == 303  # the session is still valid: no form
    live = db.read(
        lambda conn: conn.execute(
            select(func.count()).where(admin_sessions.c.revoked_at.is_(None))
        ).scalar_one()
    )
    assert live == 1
    rows = db.read(
        lambda conn: conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    )
    assert rows == 1


def test_session_csrf_token_is_on_every_admin_page(db: Database, clock: ManualClock) -> None:
    web, token = signed_in(db, clock, "operator")
    page = web.get("/admin/audit")
    assert f'<meta name="csrf-token" content="{token}">' in page.text
    assert "X-CSRF-Token" in page.text
    assert csrf_token(web) == token
