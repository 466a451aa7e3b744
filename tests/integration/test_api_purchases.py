"""The purchase endpoints over HTTP, on both databases: buying, reading, cancelling, time.

Every refusal is a 4xx with its code and changes nothing (balance, journals, idempotency keys,
purchases, entitlements); a replayed Idempotency-Key returns the first response and moves
nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from coffer.catalog import products, providers, time_rates
from coffer.catalog.model import Product
from coffer.db.transaction import Database
from coffer.entitlements.tables import entitlements
from coffer.kernel.clock import ManualClock
from coffer.purchases.tables import purchases
from tests.integration.test_api_fuzz import VALUES, _raw
from tests.integration.test_api_support import Tenant, World, error_code, ok
from tests.integration.test_purchases import KIND_FIELDS


@pytest.fixture
def world(db: Database, clock: ManualClock) -> World:
    return World(db, clock)


@pytest.fixture
def acme(world: World) -> Tenant:
    tenant = world.tenant("Acme")
    tenant.member("alice")
    tenant.grant("alice", 10_000)
    tenant.member("bob")
    return tenant


def _product(
    tenant: Tenant, world: World, sku: str, kind: str = "item", price: int = 1_000, **extra: Any
) -> Product:
    def make(conn: Any) -> Product:
        now = world.clock.now()
        found = providers.list_providers(conn, tenant.service.id)
        cp = (
            found[0]
            if found
            else providers.create_provider(conn, tenant.service.id, name="CP", now=now)
        )
        status = extra.pop("status", "on_sale")
        spec = {"sku": sku, "kind": kind, "cp_id": cp.id, "name_ko": sku, "name_en": sku,
                **KIND_FIELDS[kind], **extra}  # fmt: skip
        if kind != "metered":
            spec["price"] = price
        return products.create_product(conn, tenant.service.id, spec, now=now, status=status)

    return tenant.db.write(make)


def _snapshot(tenant: Tenant, external_id: str) -> tuple[Any, ...]:
    def count(table: Any) -> int:
        return int(
            tenant.db.read(
                lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()
            )
        )

    return (*tenant.snapshot(external_id), count(purchases), count(entitlements))


def test_buy_read_and_list(acme: Tenant, world: World) -> None:
    sword = _product(acme, world, "SWORD", price=700)
    pass_ = _product(acme, world, "VIP", "period_pass", 2_000)

    made = ok(
        acme.post(
            "/purchases",
            {"member": "alice", "lines": [{"product": "sku:SWORD", "quantity": 2},
                                          {"product": str(pass_.id)}]},
        ),
        201,
    )  # fmt: skip
    assert made["member"] == made["recipient"] == "alice"
    assert made["total"] == 3_400
    assert made["status"] == "completed"
    assert made["balance"]["available"] == 10_000 - 3_400
    first, second = made["lines"]
    assert first["product_id"] == str(sword.id)
    assert (first["quantity"], first["unit_price"], first["amount"]) == (2, 700, 1_400)
    assert first["draws"] == [
        {"lot_id": first["draws"][0]["lot_id"], "cash_kind": "paid", "amount": 1_400}
    ]
    assert [(e["kind"], e["granted"]) for e in first["entitlements"]] == [("item", 2)]
    assert [e["kind"] for e in second["entitlements"]] == ["period_pass"]
    assert made["quote"]["pricer"] == "engine"
    assert (made["quote"]["list_total"], made["quote"]["discount"]) == (3_400, 0)
    assert sum(r["amount"] for r in made["revenue"]) == 3_400

    read = ok(acme.get(f"/purchases/{made['id']}"), 200)
    assert read == {k: v for k, v in made.items() if k != "balance"}
    other = ok(
        acme.post("/purchases", {"member": "alice", "lines": [{"product": "sku:SWORD"}]}), 201
    )
    gift = ok(
        acme.post(
            "/purchases",
            {"member": "alice", "lines": [{"product": "sku:SWORD"}], "gift_to": "bob"},
        ),
        201,
    )
    assert gift["recipient"] == "bob"
    assert gift["lines"][0]["entitlements"][0]["kind"] == "item"
    page = ok(acme.get("/members/alice/purchases", limit=2), 200)
    assert [p["id"] for p in page["data"]] == [gift["id"], other["id"]]
    rest = ok(acme.get("/members/alice/purchases", limit=2, cursor=page["next_cursor"]), 200)
    assert [p["id"] for p in rest["data"]] == [made["id"]]
    assert rest["next_cursor"] is None
    assert [p["id"] for p in ok(acme.get("/members/bob/purchases"), 200)["data"]] == [gift["id"]]


def test_idempotent_replay(acme: Tenant, world: World) -> None:
    _product(acme, world, "SWORD", price=700)
    body = {"member": "alice", "lines": [{"product": "sku:SWORD", "quantity": 1}]}
    first = acme.post("/purchases", body, key="buy-1")
    assert first.status_code == 201
    before = _snapshot(acme, "alice")
    again = acme.post("/purchases", {"lines": body["lines"], "member": "alice"}, key="buy-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _snapshot(acme, "alice") == before
    changed = acme.post("/purchases", {**body, "lines": [{"product": "sku:SWORD", "quantity": 2}]},
                        key="buy-1")  # fmt: skip
    assert changed.status_code == 409
    assert error_code(changed) == "idempotency_key_reused"

    cancel = {"reason": "oops"}
    purchase_id = first.json()["id"]
    sword = _product(acme, world, "CANCELLABLE", price=100, cancel_window_seconds=600)
    made = ok(acme.post("/purchases", {"member": "alice", "lines": [{"product": str(sword.id)}]}),
              201)  # fmt: skip
    done = acme.post(f"/purchases/{made['id']}/cancel", cancel, key="cancel-1")
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    replay = acme.post(f"/purchases/{made['id']}/cancel", cancel, key="cancel-1")
    assert replay.json() == done.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    refused = acme.post(f"/purchases/{made['id']}/cancel", cancel)
    assert refused.status_code == 409
    assert error_code(refused) == "line_already_cancelled"
    assert acme.post(f"/purchases/{purchase_id}/cancel", cancel, key=None).status_code == 400


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"lines": [{"product": "sku:NOPE"}]}, 404, "product_not_found"),
    ({"lines": [{"product": "0190aaaa-0000-7000-8000-000000000000"}]}, 404, "product_not_found"),
    ({"lines": [{"product": "sku:THEIRS"}]}, 404, "product_not_found"),
    ({"lines": [{"product": "THEIRS-ID"}]}, 404, "product_not_found"),
    ({"lines": [{"product": "sku:OFF"}]}, 409, "product_not_on_sale"),
    ({"lines": [{"product": "sku:SOON"}]}, 409, "product_not_on_sale"),
    ({"lines": [{"product": "sku:METER"}]}, 409, "product_not_purchasable"),
    ({"lines": [{"product": "sku:SWORD", "quantity": 0}]}, 422, "invalid_quantity"),
    ({"lines": [{"product": "sku:SWORD", "quantity": -1}]}, 422, "invalid_quantity"),
    ({"lines": [{"product": "sku:SWORD", "quantity": 1.5}]}, 422, "invalid_quantity"),
    ({"lines": [{"product": "sku:SWORD", "quantity": "2"}]}, 422, "invalid_quantity"),
    ({"lines": [{"product": "sku:SWORD", "quantity": True}]}, 422, "invalid_quantity"),
    ({"lines": [{"product": "sword"}]}, 422, "invalid_product"),
    ({"lines": []}, 422, "invalid_lines"),
    ({"lines": [{"product": "sku:LIMITED", "quantity": 3}]}, 409, "purchase_limit_exceeded"),
    ({"lines": [{"product": "sku:SWORD", "quantity": 11}]}, 422, "insufficient_funds"),
    ({"lines": [{"product": "sku:SWORD"}], "gift_to": "nobody"}, 404, "recipient_not_found"),
    ({"lines": [{"product": "sku:SWORD"}], "gift_to": "stranger"}, 404, "recipient_not_found"),
    ({"member": "nobody", "lines": [{"product": "sku:SWORD"}]}, 404, "member_not_found"),
    ({"member": "carol", "lines": [{"product": "sku:SWORD"}]}, 409, "member_suspended"),
    ({"member": "dave", "lines": [{"product": "sku:SWORD"}]}, 409, "member_closed"),
]


def test_bad_input_is_refused_with_its_code_and_changes_nothing(acme: Tenant, world: World) -> None:
    now = world.clock.now()
    sword = _product(acme, world, "SWORD", price=1_000)
    off = _product(acme, world, "OFF")
    acme.db.write(
        lambda c: products.set_product_status(c, acme.service.id, off.id, "off_sale", now=now)
    )
    _product(acme, world, "SOON", sale_starts_at=now + timedelta(days=1))
    _product(acme, world, "METER", "metered")
    _product(acme, world, "LIMITED", price=10, limit_count=3, limit_days=30)
    ok(acme.post("/purchases", {"member": "alice", "lines": [{"product": "sku:LIMITED"}]}), 201)
    other = world.tenant("Other")
    theirs = _product(other, world, "THEIRS")
    other.member("stranger")
    for name, member_status in (("carol", "suspended"), ("dave", "closed")):
        acme.member(name)
        if member_status == "suspended":
            acme.grant(name, 5_000)
        ok(acme.patch(f"/members/{name}", {"status": member_status}), 200)

    for body, status, code in BAD:
        sent: dict[str, Any] = {"member": "alice", **body}
        sent["lines"] = [
            {**line, "product": str(theirs.id)} if line.get("product") == "THEIRS-ID" else line
            for line in sent["lines"]
        ]
        who = sent["member"] if sent["member"] in ("alice", "carol") else "alice"
        before = _snapshot(acme, who)
        response = acme.post("/purchases", sent)
        assert (response.status_code, error_code(response)) == (status, code), (body, response.text)
        assert _snapshot(acme, who) == before, body
    assert ok(acme.get("/members/alice/balance"), 200)["available"] == 10_000 - 10
    assert sword.price == 1_000


def test_insufficient_funds_names_the_total(acme: Tenant, world: World) -> None:
    _product(acme, world, "SWORD", price=6_000)
    response = acme.post(
        "/purchases",
        {"member": "alice", "lines": [{"product": "sku:SWORD"}, {"product": "sku:SWORD"}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"requested": 12_000, "available": 10_000}


def test_cancel_refusals(acme: Tenant, world: World) -> None:
    _product(acme, world, "SWORD", price=100, cancel_window_seconds=60)
    _product(acme, world, "FINAL", price=100)
    made = ok(acme.post("/purchases", {"member": "alice", "lines": [{"product": "sku:SWORD"},
                                                                     {"product": "sku:FINAL"}]}),
              201)  # fmt: skip
    sword_line, final_line = (line["id"] for line in made["lines"])
    path = f"/purchases/{made['id']}/cancel"
    before = _snapshot(acme, "alice")
    for body, status, code in [
        ({"reason": "x"}, 409, "cancel_window_closed"),
        ({"reason": "x", "lines": [final_line]}, 409, "cancel_window_closed"),
        ({"reason": "x", "lines": [made["id"]]}, 404, "purchase_line_not_found"),
        ({"reason": "x", "lines": ["nope"]}, 422, "invalid_lines"),
        ({"reason": "x", "lines": []}, 422, "invalid_lines"),
        ({"lines": [sword_line]}, 422, "invalid_request"),
    ]:
        response = acme.post(path, body)
        assert (response.status_code, error_code(response)) == (status, code), response.text
        assert _snapshot(acme, "alice") == before
    unknown = acme.post("/purchases/0190aaaa-0000-7000-8000-000000000000/cancel", {"reason": "x"})
    assert (unknown.status_code, error_code(unknown)) == (404, "purchase_not_found")
    other = world.tenant("Other")
    elsewhere = other.post(path, {"reason": "x"})
    assert (elsewhere.status_code, error_code(elsewhere)) == (404, "purchase_not_found")
    assert other.get(f"/purchases/{made['id']}").status_code == 404

    partial = ok(acme.post(path, {"reason": "x", "lines": [sword_line]}), 200)
    assert partial["status"] == "partially_cancelled"
    assert partial["balance"]["available"] == 10_000 - 100
    world.clock.advance(timedelta(minutes=2))
    assert acme.post(path, {"reason": "x"}).status_code == 409


def test_time_by_the_rate_card(acme: Tenant, world: World) -> None:
    before = _snapshot(acme, "alice")
    none = acme.post("/members/alice/time", {"amount": 1_000})
    assert (none.status_code, error_code(none)) == (409, "no_time_rate")
    acme.db.write(lambda c: time_rates.set_rate(c, acme.service.id, 25, world.clock.now()))
    refusals = [
        (1_010, 422, "amount_not_whole_minutes"),
        (1.5, 422, "invalid_amount"),
        (50_000, 422, "insufficient_funds"),
    ]
    for amount, status, code in refusals:
        response = acme.post("/members/alice/time", {"amount": amount})
        assert (response.status_code, error_code(response)) == (status, code)
    assert _snapshot(acme, "alice") == before
    bought = ok(acme.post("/members/alice/time", {"amount": 1_000}), 201)
    [line] = bought["lines"]
    assert (line["kind"], line["product_id"], line["quantity"]) == ("time", None, 40)
    assert [(e["kind"], e["granted"]) for e in line["entitlements"]] == [("time", 40)]
    assert bought["revenue"][0]["cp_id"] is None
    assert bought["balance"]["available"] == 9_000


LINE = st.fixed_dictionaries(
    {},
    optional={
        "product": st.sampled_from(["sku:SWORD", "sku:\x00", "sku:", "sku:\ud800"]) | VALUES,
        "quantity": VALUES,
    },
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "member": st.sampled_from(["alice", "bob", "\x00"]) | VALUES,
        "lines": st.lists(LINE, max_size=3) | VALUES,
        "gift_to": st.sampled_from(["bob", "alice", "\x00"]) | VALUES,
        "reason": VALUES,
        "amount": VALUES,
    },
)


@pytest.fixture
def bought(acme: Tenant, world: World) -> str:
    """A cancellable purchase of alice's, and a rate card: something for every path to hit."""
    _product(acme, world, "SWORD", price=10, cancel_window_seconds=60)
    acme.db.write(lambda c: time_rates.set_rate(c, acme.service.id, 5, world.clock.now()))
    made = ok(
        acme.post("/purchases", {"member": "alice", "lines": [{"product": "sku:SWORD"}]}), 201
    )
    return str(made["id"])


@given(path=st.sampled_from(["/purchases", "/members/alice/time", "/purchases/{id}/cancel"]),
       body=BODY)  # fmt: skip
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_random_bodies_never_break_the_purchase_endpoints(
    acme: Tenant, bought: str, path: str, body: Any
) -> None:
    target = path.replace("{id}", bought)
    response = acme.post(target, content=_raw(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (body, response.text)
