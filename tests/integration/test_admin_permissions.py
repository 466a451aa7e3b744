"""Every admin route declares a permission, and each role gets exactly what the matrix says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import RouteContext
from sqlalchemy import select

from coffer import app as usecases
from coffer.admins.permissions import MATRIX, ROLES, allowed
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from coffer.migrations.schema import metadata
from coffer.server import create_server
from coffer.web.admin.auth import PUBLIC_ROUTES, admin_routes, is_public, route_permission
from tests.admin_web import signed_in


def _app(db: Database, clock: ManualClock) -> FastAPI:
    return create_server(Runtime(Settings.from_env({}), db, clock))


def _methods(route: RouteContext) -> list[str]:
    return sorted(route.methods or [])


def test_every_admin_route_declares_a_known_permission(db: Database, clock: ManualClock) -> None:
    routes = admin_routes(_app(db, clock))
    assert len(routes) >= 5
    undeclared = [
        f"{_methods(r)} {r.path}"
        for r in routes
        if route_permission(r) is None and not is_public(r)
    ]
    assert undeclared == [], f"admin routes without require(...): {undeclared}"
    unknown = [(r.path, route_permission(r)) for r in routes if route_permission(r) not in MATRIX]
    assert all(is_public(r) for r in routes if route_permission(r) is None), unknown
    public = {(m, r.path) for r in routes if is_public(r) for m in _methods(r)}
    assert public == PUBLIC_ROUTES  # the allow-list names only routes that exist
    for route in routes:
        if is_public(route):
            assert route_permission(route) is None, route.path


def _fill(path: str, known: dict[str, str]) -> tuple[str, bool]:
    """The path with its parameters filled in; whether every one names a real object."""
    real = True

    def value(match: re.Match[str]) -> str:
        nonlocal real
        name = match.group(1).split(":")[0]
        if name not in known:
            real = False
        return known.get(name, "0190a000-0000-7000-8000-0000000000ff")

    return re.sub(r"\{([^}]+)\}", value, path), real


def _world(db: Database, clock: ManualClock) -> dict[str, str]:
    def seed(conn: Any) -> dict[str, str]:
        service, _ = usecases.create_service(
            conn, name="Matrix", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        usecases.create_member(conn, service, "alice", clock=clock)
        return {"service_id": str(service.id), "external_id": "alice"}

    return db.write(seed)


def _snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table but the sessions (whose last-seen time moves on reads)."""

    def dump(conn: Any) -> dict[str, list[str]]:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
            if table.name != "admin_sessions"
        }

    return db.read(dump)


@pytest.mark.parametrize("role", ROLES)
def test_roles_by_admin_get_routes(db: Database, clock: ManualClock, role: str) -> None:
    known = _world(db, clock)
    routes = [r for r in admin_routes(_app(db, clock)) if "GET" in _methods(r) and not is_public(r)]
    web, _ = signed_in(db, clock, role)
    for route in routes:
        permission = route_permission(route)
        assert permission is not None
        path, real = _fill(route.path or "", known)
        response = web.get(path)
        if allowed(role, permission):
            if real:
                assert response.status_code in (200, 303), (role, path, response.status_code)
            else:
                assert response.status_code not in (401, 403), (role, path)
                assert response.status_code < 500, (role, path)
        else:
            assert response.status_code == 403, (role, path, response.status_code)
            assert "You do not have permission to" in response.text


@pytest.mark.parametrize("role", ROLES)
def test_denied_posts_are_403_and_change_nothing(
    db: Database, clock: ManualClock, role: str
) -> None:
    known = _world(db, clock)
    web, token = signed_in(db, clock, role)
    denied = [
        r
        for r in admin_routes(_app(db, clock))
        if "POST" in _methods(r)
        and not is_public(r)
        and not allowed(role, route_permission(r) or "")
    ]
    if role == "superuser":
        assert denied == []
    before = _snapshot(db)
    form = {
        "csrf_token": token,
        "amount": "1000",
        "kind": "bonus",
        "reason": "matrix test",
        "status": "suspended",
        "consumption_order": "paid_first",
        "label": "matrix",
    }
    for route in denied:
        path, _ = _fill(route.path or "", known)
        response = web.post(path, data=form)
        assert response.status_code == 403, (role, path, response.status_code)
    assert _snapshot(db) == before


def test_posts_without_a_valid_csrf_token_are_403_and_change_nothing(
    db: Database, clock: ManualClock
) -> None:
    known = _world(db, clock)
    web, token = signed_in(db, clock, "superuser")
    before = _snapshot(db)
    posts = [r for r in admin_routes(_app(db, clock)) if "POST" in _methods(r) and not is_public(r)]
    assert posts
    for route in posts:
        path, _ = _fill(route.path or "", known)
        near = token[:-1] + ("A" if token[-1] != "A" else "B")
        for data in ({}, {"csrf_token": ""}, {"csrf_token": near}, {"amount": "1"}):
            response = web.post(path, data=data)
            assert response.status_code == 403, (path, data, response.status_code)
        wrong_header = web.post(path, headers={"X-CSRF-Token": "nope"}, data={"amount": "1"})
        assert wrong_header.status_code == 403
    assert _snapshot(db) == before
