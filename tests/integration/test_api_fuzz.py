"""Random request bodies and query strings never get a 500, on both databases."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coffer.db.transaction import Database
from coffer.kernel.clock import ManualClock
from tests.integration.test_api_support import Tenant, World

FIELDS = [
    "amount",
    "cash_kind",
    "reason",
    "expires_at",
    "source",
    "reference",
    "memo",
    "expires_in_seconds",
    "external_id",
    "grade",
    "status",
    "url",
]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)
BODIES = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), VALUES, max_size=5)
QUERY = st.dictionaries(
    st.sampled_from(["kind", "from", "to", "limit", "cursor", "include_empty", "status"]),
    st.text(max_size=12),
    max_size=4,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def acme(db: Database, clock: ManualClock) -> Tenant:
    tenant = World(db, clock).tenant()
    tenant.member("alice")
    tenant.grant("alice", 10_000)
    return tenant


def _raw(value: Any) -> bytes:
    """JSON as a careless client might send it: NaN, lone surrogates and all."""
    return json.dumps(value).encode("utf-8", "surrogatepass")


@FUZZ
@given(
    path=st.sampled_from(
        ["/members", "/members/alice/grants", "/members/alice/spends", "/members/alice/holds"]
    ),
    body=BODIES,
)
def test_random_bodies_are_refused_cleanly(acme: Tenant, path: str, body: Any) -> None:
    response = acme.post(path, content=_raw(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (body, response.text)


@FUZZ
@given(
    path=st.sampled_from(["history", "lots", "holds", "balance"]),
    query=QUERY,
    external_id=st.text(max_size=10),
)
def test_random_queries_and_ids_are_refused_cleanly(
    acme: Tenant, path: str, query: dict[str, str], external_id: str
) -> None:
    response = acme.get(f"/members/alice/{path}", **query)
    assert response.status_code < 500, (query, response.text)
    member = quote(external_id, safe="", errors="surrogatepass")
    assert acme.get(f"/members/{member}/balance").status_code < 500
    patched = acme.request(
        "PATCH",
        "/members/alice",
        content=_raw(query),
        headers={**acme.auth, "Content-Type": "application/json"},
    )
    assert patched.status_code < 500, (query, patched.text)
