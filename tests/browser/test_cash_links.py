"""Signed links and cash sessions over plain HTTP (no browser): every refusal is a 4xx page that
writes nothing, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Connection

from coffer import app as usecases
from coffer.tenancy import service as tenancy
from coffer.tenancy.tables import cash_sessions
from tests.browser.conftest import LiveServer, run_live_server
from tests.databases import DIALECTS


@pytest.fixture(scope="module", params=DIALECTS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from run_live_server(request, tmp_path_factory)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, follow_redirects=False) as http:
        yield http


def problem_of(response: httpx.Response) -> str:
    marker = 'data-problem="'
    start = response.text.index(marker) + len(marker)
    return response.text[start : response.text.index('"', start)]


def refused(live_server: LiveServer, client: httpx.Client, url: str) -> httpx.Response:
    """GET ``url``; assert it was refused without a session or a cookie; return the answer."""
    before = live_server.session_count()
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    assert live_server.session_count() == before
    return response


def now_ts(live_server: LiveServer) -> int:
    return int(live_server.clock.now().timestamp())


def signed_in(live_server: LiveServer, client: httpx.Client, member: str) -> None:
    response = client.get(live_server.link(member))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/cash"


def test_a_link_is_good_from_30_seconds_ahead_to_5_minutes_after(
    live_server: LiveServer, client: httpx.Client
) -> None:
    now = now_ts(live_server)
    for ts in (now - 295, now + 25):
        signed_in_response = client.get(live_server.link("alice", ts=ts))
        assert signed_in_response.status_code == 303
    expired = refused(live_server, client, live_server.link("alice", ts=now - 310))
    assert (expired.status_code, problem_of(expired)) == (403, "link_expired")
    ahead = refused(live_server, client, live_server.link("alice", ts=now + 40))
    assert (ahead.status_code, problem_of(ahead)) == (403, "link_not_yet_valid")


def test_a_link_replayed_after_it_expired_is_refused(
    live_server: LiveServer, client: httpx.Client
) -> None:
    link = live_server.link("alice")
    assert client.get(link).status_code == 303
    with live_server.clock.shifted(timedelta(seconds=301)):
        replayed = refused(live_server, client, link)
    assert problem_of(replayed) == "link_expired"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "service={service}&member=alice&ts={ts}",
        "service={service}&member=alice&ts={ts}&sig=zz",
        "service={service}&member=alice&ts={ts}&sig=" + "g" * 64,
        "service=not-a-uuid&member=alice&ts={ts}&sig=" + "0" * 64,
        "service={service}&member=alice&ts=12a&sig=" + "0" * 64,
        "service={service}&member=alice&ts=1234567890123&sig=" + "0" * 64,
        "service={service}&member=a%2Fb&ts={ts}&sig=" + "0" * 64,
        "service={service}&member=%00&ts={ts}&sig=" + "0" * 64,
        "service={service}&member=alice&member=bob&ts={ts}&sig=" + "0" * 64,
    ],
    ids=[
        "empty",
        "no-sig",
        "short-sig",
        "non-hex-sig",
        "bad-service",
        "bad-ts",
        "long-ts",
        "slash-member",
        "control-member",
        "duplicate-member",
    ],
)
def test_malformed_links_are_400(live_server: LiveServer, client: httpx.Client, query: str) -> None:
    url = "/cash/enter?" + query.format(
        service=live_server.world.service_id, ts=now_ts(live_server)
    )
    response = refused(live_server, client, url)
    assert (response.status_code, problem_of(response)) == (400, "link_malformed")


def test_forged_and_foreign_links_are_refused(
    live_server: LiveServer, client: httpx.Client
) -> None:
    world = live_server.world
    tampered = live_server.link("alice").replace("member=alice", "member=bob")
    assert problem_of(refused(live_server, client, tampered)) == "link_signature_invalid"
    # Signed with another service's secret.
    wrong_key = live_server.link("alice", secret=world.other_link_secret)
    assert problem_of(refused(live_server, client, wrong_key)) == "link_signature_invalid"
    unknown = live_server.link("alice", service=str(uuid4()))
    response = refused(live_server, client, unknown)
    assert (response.status_code, problem_of(response)) == (403, "link_unknown_service")
    # zoe is a member of Other Game only: a genuine Demo Game link for her finds no one.
    response = refused(live_server, client, live_server.link("zoe"))
    assert (response.status_code, problem_of(response)) == (404, "member_not_found")
    own = live_server.link(
        "zoe", service=str(world.other_service_id), secret=world.other_link_secret
    )
    assert client.get(own).status_code == 303


@pytest.mark.parametrize(("member", "status"), [("sam", "suspended"), ("cleo", "closed")])
def test_suspended_and_closed_members_are_refused(
    live_server: LiveServer, client: httpx.Client, member: str, status: str
) -> None:
    response = refused(live_server, client, live_server.link(member))
    assert (response.status_code, problem_of(response)) == (403, f"member_{status}")


def test_the_session_cookie(live_server: LiveServer, client: httpx.Client) -> None:
    response = client.get(live_server.link("alice"))
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("coffer_cash=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/cash" in cookie
    assert "secure" not in cookie
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    behind_https = client.get(live_server.link("alice"), headers={"X-Forwarded-Proto": "https"})
    assert "secure" in behind_https.headers["set-cookie"].lower()


def test_logout_needs_the_csrf_token(live_server: LiveServer, client: httpx.Client) -> None:
    signed_in(live_server, client, "alice")
    page = client.get("/cash")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post("/cash/logout", data=data)
        assert (response.status_code, problem_of(response)) == (403, "csrf_failed")
        assert client.get("/cash").status_code == 200  # still signed in
    response = client.post("/cash/logout", headers={"X-CSRF-Token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/cash/bye")
    assert client.get("/cash").status_code == 401


def test_sessions_end_after_30_idle_minutes_and_after_12_hours(
    live_server: LiveServer, client: httpx.Client
) -> None:
    signed_in(live_server, client, "alice")
    with live_server.clock.shifted(timedelta(minutes=20)):
        assert client.get("/cash").status_code == 200  # activity moves the idle timeout on
    with live_server.clock.shifted(timedelta(minutes=45)):
        assert client.get("/cash").status_code == 200
        for part in ("/cash/live/balance", "/cash/live/history"):
            assert client.get(part).status_code == 200
    with live_server.clock.shifted(timedelta(minutes=76)):
        assert client.get("/cash").status_code == 401
        ended = client.get("/cash/live/balance")
        assert ended.status_code == 286  # htmx stops polling
        assert "session-ended" in ended.text

    signed_in(live_server, client, "alice")
    with live_server.clock.shifted(timedelta(hours=12, seconds=1)):
        later = live_server.clock.now()
        live_server.runtime.db.write(
            lambda conn: conn.execute(update(cash_sessions).values(last_seen_at=later))
        )
        assert client.get("/cash").status_code == 401


def test_suspending_a_member_ends_their_session(
    live_server: LiveServer, client: httpx.Client
) -> None:
    signed_in(live_server, client, "pat")
    assert client.get("/cash").status_code == 200
    rt = live_server.runtime

    def set_status(status: str) -> None:
        def work(conn: Connection) -> None:
            service = tenancy.get_service(conn, live_server.world.service_id)
            usecases.change_member_status(conn, service, "pat", status, clock=rt.clock)

        rt.db.write(work)

    set_status("suspended")
    try:
        assert client.get("/cash").status_code == 401
    finally:
        set_status("active")


def test_bad_addresses_under_cash_are_pages(live_server: LiveServer, client: httpx.Client) -> None:
    signed_in(live_server, client, "alice")
    for url, status, problem in (
        ("/cash?before=nope", 400, "bad_request"),
        ("/cash?show=everything", 400, "bad_request"),
        ("/cash/live/history?show=x", 400, "bad_request"),
        ("/cash/no-such-page", 404, "not_found"),
    ):
        response = client.get(url)
        assert (response.status_code, problem_of(response)) == (status, problem), url
    assert client.get("/cash?before=" + str(uuid4())).status_code == 200
