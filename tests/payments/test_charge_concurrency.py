"""Races on one charge: duplicate and out-of-order webhooks, return vs webhook vs janitor, refunds.

The webhooks are real: the sandbox PG sends them to a sink (its merchant's webhook URL is pointed
there), and the tests deliver the captured bytes and headers to Coffer themselves, as often and
in whatever order they like. Stale messages the sandbox would never send again are signed the way
the sandbox signs (``coffer.sandbox_pg.webhooks.signature_header``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

import httpx
from sqlalchemy import func, select

from coffer.ledger.tables import journals
from coffer.payments import charging, janitor
from coffer.payments.charges import timeline
from coffer.payments.gateways.outcomes import Approved, PaymentCancelled, WaitingForDeposit
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.tables import charge_credits, pg_webhook_events
from coffer.sandbox_pg.webhooks import signature_header
from coffer.tenancy import service as tenancy
from tests.gateways.live_support import Delivery, WebhookSink, webhook_sink
from tests.ledger_helpers import assert_invariants
from tests.payments.world import ADMIN, APPROVE, World

T = TypeVar("T")
HEADERS = ("Content-Type", "Sandbox-Event-Id", "Sandbox-Signature")


def all_at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(0..count-1)`` on ``count`` threads released together."""
    gate = threading.Barrier(count)

    def run(n: int) -> T:
        gate.wait(timeout=30)
        return action(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def sandbox_gateway(world: World) -> SandboxGateway:
    m = world.merchant
    return SandboxGateway(
        world.sandbox, m["client_key"], m["secret_key"], m["webhook_secret"], timeout=10
    )


def set_webhook_url(world: World, url: str) -> None:
    response = httpx.put(
        f"{world.sandbox}/admin/merchants/{world.merchant['merchant_id']}/webhook",
        json={"webhook_url": url},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text


@contextmanager
def captured_webhooks(world: World) -> Iterator[WebhookSink]:
    """The sandbox's webhooks go to a sink instead of Coffer while this lasts."""
    with webhook_sink() as sink:
        set_webhook_url(world, sink.url)
        try:
            yield sink
        finally:
            set_webhook_url(world, f"{world.coffer}/pg/webhooks/{world.contract_id}")


def headers_of(delivery: Delivery) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in delivery.headers.items()}
    return {name: lowered[name.lower()] for name in HEADERS}


def deliver(world: World, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=world.coffer, timeout=30) as client:
        return client.post(f"/pg/webhooks/{world.contract_id}", content=body, headers=headers)


def sign_as_sandbox(world: World, event: dict[str, Any], *, at: int | None = None) -> Delivery:
    """A webhook body and headers exactly as the sandbox serialises and signs them."""
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time()) if at is None else at
    headers = {
        "Content-Type": "application/json",
        "Sandbox-Event-Id": event["eventId"],
        "Sandbox-Signature": signature_header(world.merchant["webhook_secret"], timestamp, body),
    }
    return Delivery(headers, body)


def restated(delivery: Delivery, **payment: Any) -> dict[str, Any]:
    """The captured event as a new event (new id) whose payment says something else."""
    event = json.loads(delivery.body)
    event["eventId"] = f"evt_{uuid.uuid4().hex}"
    event["data"] = {**event["data"], **payment}
    return dict(event)


@dataclass
class Authorised:
    """A charge the member authorised on the PG's page; the browser's return not yet followed."""

    id: str
    redirect: httpx.Response
    payment_key: str
    order_id: str
    amount: int


def authorise(world: World, member: str, method: str, amount: int) -> Authorised:
    started = world.start_charge(member, amount, method)
    redirect = world.checkout(started["checkout_url"], APPROVE[method])
    query = dict(parse_qsl(urlsplit(redirect.headers["location"]).query))
    return Authorised(started["id"], redirect, query["paymentKey"], query["orderId"], amount)


def confirm_at_pg(world: World, charge: Authorised) -> None:
    """Someone (the first confirm, whose answer Coffer never saw) confirmed at the PG."""
    with sandbox_gateway(world) as gateway:
        outcome = gateway.confirm(charge.payment_key, charge.order_id, charge.amount)
    assert isinstance(outcome, Approved | WaitingForDeposit), outcome


def credits_of(world: World, charge_id: str) -> int:
    return int(
        world.db.read(
            lambda c: c.execute(
                select(func.count())
                .select_from(charge_credits)
                .where(charge_credits.c.charge_id == UUID(charge_id))
            ).scalar_one()
        )
    )


def grants_of(world: World, member: str) -> int:
    def read(conn: Any) -> int:
        member_id = tenancy.get_member(conn, world.service_id, member).id
        count = select(func.count()).select_from(journals)
        return int(
            conn.execute(
                count.where(journals.c.member_id == member_id, journals.c.kind == "grant")
            ).scalar_one()
        )

    return world.db.read(read)


def webhook_rows(world: World) -> int:
    return int(
        world.db.read(
            lambda c: c.execute(select(func.count()).select_from(pg_webhook_events)).scalar_one()
        )
    )


def test_fifty_duplicate_webhooks_at_once_credit_once(world: World) -> None:
    member = world.member()
    with captured_webhooks(world) as sink:
        charge = authorise(world, member, "card", 10000)
        confirm_at_pg(world, charge)  # Coffer's charge is still `created`: only the hook knows
        (done,) = sink.wait_for(1)
    assert world.charge(charge.id).status == "created"
    headers = headers_of(done)
    results = all_at_once(50, lambda _n: deliver(world, done.body, headers))
    assert {r.status_code for r in results} == {200}
    outcomes = sorted(r.json()["result"] for r in results)
    assert outcomes == ["applied"] + ["duplicate"] * 49
    after = world.charge(charge.id)
    assert (after.status, after.payment_key) == ("approved", charge.payment_key)
    assert world.balance(member) == 10000
    counts = (credits_of(world, charge.id), grants_of(world, member), webhook_rows(world))
    assert counts == (1, 1, 1)
    # The member's browser comes back afterwards: nothing more happens.
    assert world.follow(charge.redirect)["status"] == "approved"
    assert world.balance(member) == 10000
    assert credits_of(world, charge.id) == 1
    assert_invariants(world.db)


def test_out_of_order_webhooks_never_downgrade(world: World) -> None:
    member = world.member()
    with captured_webhooks(world) as sink:
        card = authorise(world, member, "card", 10000)
        confirm_at_pg(world, card)
        (card_done,) = sink.wait_for(1)
        account = authorise(world, member, "virtual_account", 30000)
        confirm_at_pg(world, account)
        account_waiting = sink.wait_for(2)[1]
        world.deposit(account.payment_key)
        account_done = sink.wait_for(3)[2]
    assert json.loads(account_waiting.body)["data"]["status"] == "WAITING_FOR_DEPOSIT"
    assert json.loads(account_done.body)["eventType"] == "DEPOSIT_CALLBACK"

    # Newest first: the deposit's DONE, then the older WAITING_FOR_DEPOSIT (its own event id).
    for delivery in (account_done, account_waiting):
        assert deliver(world, delivery.body, headers_of(delivery)).json() == {"result": "applied"}
    assert deliver(world, card_done.body, headers_of(card_done)).json() == {"result": "applied"}
    waiting_data = json.loads(account_waiting.body)["data"]
    stale = [
        restated(card_done, status="IN_PROGRESS", approvedAt=None),
        restated(card_done, status="READY", approvedAt=None),
        restated(
            card_done,
            status="WAITING_FOR_DEPOSIT",
            approvedAt=None,
            virtualAccount=waiting_data["virtualAccount"],
        ),
        restated(card_done),  # the same DONE again under a new event id
        restated(account_done, status="READY", approvedAt=None, virtualAccount=None),
        restated(account_done, status="IN_PROGRESS", approvedAt=None),
        restated(account_waiting),
    ]
    for event in stale:
        signed = sign_as_sandbox(world, event)
        assert deliver(world, signed.body, signed.headers).json() == {"result": "applied"}

    for authorised, amount in ((card, 10000), (account, 30000)):
        charge = world.charge(authorised.id)
        assert (charge.status, charge.amount, charge.attention) == ("approved", amount, None)
        assert credits_of(world, authorised.id) == 1
        # The member's browser coming back late changes nothing either.
        assert world.follow(authorised.redirect)["status"] == "approved"
    events = [e.event for e in world.db.read(lambda c: timeline(c, UUID(account.id)))]
    assert events.count("approved") == 1
    assert "stale_message_ignored" in events
    assert world.balance(member) == 40000
    assert grants_of(world, member) == 2
    assert webhook_rows(world) == 3 + len(stale)
    assert_invariants(world.db)


def test_the_return_the_webhook_and_the_janitor_race_on_one_charge(world: World) -> None:
    """Per charge, on three threads: the browser's return, the PG's webhook, the janitor."""
    member = world.member()
    methods = ["card", "transfer", "mobile", "gift", "card", "transfer"]
    with captured_webhooks(world) as sink:
        charges = [authorise(world, member, m, 1000 * (n + 1)) for n, m in enumerate(methods)]
        # The first four were confirmed at the PG already (so a webhook exists); the last two
        # are only authorised: the return and the janitor race to confirm them.
        for charge in charges[:4]:
            confirm_at_pg(world, charge)
        hooks = {json.loads(d.body)["data"]["orderId"]: d for d in sink.wait_for(4)}
    assert len(hooks) == 4
    payments = world.runtime.payments()

    for charge in charges:
        hook = hooks.get(charge.order_id)

        def path(n: int, charge: Authorised = charge, hook: Delivery | None = hook) -> str:
            if n == 0:
                return world.follow(charge.redirect)["status"]
            if n == 1 and hook is not None:
                return str(deliver(world, hook.body, headers_of(hook)).json()["result"])
            return janitor.visit(payments, UUID(charge.id)).status

        results = all_at_once(3, path)
        assert not {"failed", "expired"} & set(results), results

    # An in-progress charge the janitor saw mid-confirm may still be waiting for its next
    # check: past the confirm grace, the janitor finishes whatever the race left open.
    with world.clock.shifted(timedelta(minutes=3)):
        world.janitor()
    for charge in charges:
        after = world.charge(charge.id)
        assert (after.status, after.payment_key) == ("approved", charge.payment_key), after
        assert credits_of(world, charge.id) == 1
    assert world.balance(member) == sum(c.amount for c in charges)
    assert grants_of(world, member) == len(charges)
    with sandbox_gateway(world) as gateway:
        for charge in charges:
            assert isinstance(gateway.query(order_id=charge.order_id), Approved)
    assert_invariants(world.db)


def test_concurrent_refund_requests_accept_exactly_one(world: World) -> None:
    member = world.member()
    charge_id = world.pay(member, "card", 10000)["charge_id"]

    def refund(n: int) -> httpx.Response:
        with world.api() as api:
            return api.post(
                f"/api/v1/charges/{charge_id}/refunds",
                json={"amount": 2000 + n, "reason": "asked twice"},
                headers={"Idempotency-Key": f"refund-{n}"},
            )

    responses = all_at_once(12, refund)
    accepted = [r for r in responses if r.status_code == 201]
    assert len(accepted) == 1, [r.text for r in responses]
    refused = [r for r in responses if r.status_code != 201]
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {
        (409, "refund_in_progress")
    }
    amount = accepted[0].json()["amount"]
    assert world.balance(member) == 10000 - amount  # the cash left once
    world.process_refunds(charge_id)
    (only,) = world.refunds(charge_id)
    assert (only.status, only.amount) == ("done", amount)
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded) == ("partially_cancelled", amount)
    with sandbox_gateway(world) as gateway:
        pg = gateway.query(order_id=charge.order_id)
    assert isinstance(pg, PaymentCancelled)
    assert [c.amount for c in pg.cancels] == [amount]
    assert_invariants(world.db)


class SlowCancel:
    """A PG adapter whose cancel call lets another process have its go first."""

    def __init__(self, gateway: Any, meanwhile: Callable[[], None]) -> None:
        self._gateway = gateway
        self._meanwhile: Callable[[], None] | None = meanwhile

    def cancel(self, payment_key: str, *, amount: int | None, reason: str) -> Any:
        meanwhile, self._meanwhile = self._meanwhile, None
        if meanwhile is not None:
            other = threading.Thread(target=meanwhile)
            other.start()
            other.join(timeout=30)
        return self._gateway.cancel(payment_key, amount=amount, reason=reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


def test_one_refund_processed_twice_at_once_is_cancelled_once(world: World) -> None:
    """The refund job and the janitor (or two overlapping janitor runs) on the same refund."""
    member = world.member()
    charge_id = world.pay(member, "card", 10000)["charge_id"]
    payments = world.runtime.payments()
    real = payments.gateways

    def refund(amount: int) -> UUID:
        with world.api() as api:
            created = api.post(
                f"/api/v1/charges/{charge_id}/refunds",
                json={"amount": amount, "reason": "asked"},
                headers={"Idempotency-Key": f"refund-{amount}"},
            )
        assert created.status_code == 201, created.text
        return UUID(created.json()["id"])

    # 1. While the first process's cancel call is in flight, a second one takes the refund up.
    first = refund(4000)
    seen: list[str] = []
    slow = SlowCancel(
        real(world.contract_id),
        lambda: seen.append(charging.process_refund(payments, first).status),
    )
    ctx = replace(payments, gateways=lambda _cid: slow)
    assert charging.process_refund(ctx, first).status == "done"
    assert seen == ["sending"]  # it left the cancel to the process that claimed it

    # 2. Two processes released at the same moment on the next refund.
    second = refund(3000)
    all_at_once(2, lambda _n: charging.process_refund(payments, second))

    assert [(r.status, r.amount, r.attempts) for r in world.refunds(charge_id)] == [
        ("done", 4000, 1), ("done", 3000, 1),
    ]  # fmt: skip
    with sandbox_gateway(world) as gateway:
        pg = gateway.query(order_id=world.charge(charge_id).order_id)
    assert isinstance(pg, PaymentCancelled)
    assert [c.amount for c in pg.cancels] == [4000, 3000], "the PG was asked to cancel twice"
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded, charge.attention) == ("partially_cancelled", 7000, None)
    assert world.balance(member) == 3000
    assert_invariants(world.db)


def test_stale_and_reserialised_webhooks_are_refused_and_change_nothing(world: World) -> None:
    member = world.member()
    with captured_webhooks(world) as sink:
        charge = authorise(world, member, "card", 10000)
        confirm_at_pg(world, charge)
        (done,) = sink.wait_for(1)
    headers = headers_of(done)
    event = json.loads(done.body)
    reserialised = [
        json.dumps(event).encode(),  # default spacing
        json.dumps(event, indent=2).encode(),
        json.dumps(event, sort_keys=True, separators=(",", ":")).encode(),
        json.dumps(dict(reversed(list(event.items()))), separators=(",", ":")).encode(),
        done.body + b"\n",
        b" " + done.body,
    ]
    for body in reserialised:
        assert body != done.body
        assert json.loads(body) == event
        refused = deliver(world, body, headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_webhook"
    # Signed exactly as the sandbox signs, but six minutes ago (the tolerance is five) or ahead.
    now = int(time.time())
    for at in (now - 360, now + 360):
        stale = sign_as_sandbox(world, event, at=at)
        assert deliver(world, stale.body, stale.headers).status_code == 401
    # The real delivery, untouched, but arriving when Coffer's clock says ten minutes later.
    with world.clock.shifted(timedelta(minutes=10)):
        assert deliver(world, done.body, headers).status_code == 401
    forged = dict(headers, **{"Sandbox-Signature": signature_header("whsec_wrong", now, done.body)})
    assert deliver(world, done.body, forged).status_code == 401

    after = world.charge(charge.id)
    assert (after.status, after.journal_id, after.attention) == ("created", None, None)
    assert [e.event for e in world.db.read(lambda c: timeline(c, UUID(charge.id)))] == ["created"]
    assert (webhook_rows(world), credits_of(world, charge.id), world.balance(member)) == (0, 0, 0)
    # The very same bytes and headers, on time, are accepted: only the tampering was refused.
    assert deliver(world, done.body, headers).json() == {"result": "applied"}
    assert world.charge(charge.id).status == "approved"
    assert world.balance(member) == 10000
    assert_invariants(world.db)
