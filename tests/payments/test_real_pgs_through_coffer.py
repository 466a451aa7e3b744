"""Charging through Coffer with the Toss and Stripe fakes as the PG, over real HTTP everywhere.

A payments world (Coffer over uvicorn, both databases) is connected to a local fake of Toss's or
Stripe's API with ``connect_pg``; the member's browser is httpx: the shop's ``checkout_url`` →
Coffer's ``/pg/checkout/{id}`` → the fake's payment page → back to Coffer → the shop. The fakes'
webhooks go through a relay to Coffer's ``/pg/webhooks/{contract_id}``: the relay records each
answer (``applied`` / ``duplicate`` / ``unmatched``) and can hold webhooks back, so that a test
decides whether the confirm or a webhook speaks first.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urljoin
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from coffer.ledger.tables import journals
from coffer.payments import charging
from coffer.payments.charges import timeline
from coffer.payments.onboarding import connect_pg
from coffer.payments.secrets import SecretBox
from coffer.payments.tables import charge_credits
from coffer.tenancy import service as tenancy
from tests.fakes.stripe import FakeStripe, FakeStripeConfig
from tests.fakes.stripe import create_app as create_stripe_app
from tests.fakes.toss import FakeToss
from tests.gateways.live_support import read_forms, serve
from tests.ledger_helpers import assert_invariants
from tests.payments.world import RETURN_URL, World

TOSS_SECRET_KEY = "test_sk_coffer_through"
TOSS_SECURITY_KEY = "coffer_toss_security_through"
STRIPE_SECRET_KEY = "sk_test_coffer_through"
STRIPE_WEBHOOK_SECRET = "whsec_coffer_through"
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
#: Headers a PG's webhook carries that matter to its receiver (the rest is the transport's).
PG_HEADERS = ("content-type", "stripe-signature", "tosspayments-")


# -- the webhook relay ---------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # Coffer's answer; None while held
    result: str | None = None

    @property
    def order_id(self) -> str | None:
        """The order a Toss or Stripe webhook is about, as its body says."""
        event = json.loads(self.body)
        if "type" in event:  # Stripe: an Event
            obj = event["data"]["object"]
            metadata = obj.get("metadata") or {}
            found = obj.get("client_reference_id") or metadata.get("order_id")
        else:  # Toss: PAYMENT_STATUS_CHANGED {data: Payment} or DEPOSIT_CALLBACK {orderId}
            found = (event.get("data") or event).get("orderId")
        return str(found) if found else None

    @property
    def kind(self) -> str:
        event = json.loads(self.body)
        return str(event.get("type") or event.get("eventType") or "DEPOSIT_CALLBACK")


@dataclass
class Relay:
    """Forwards the fakes' webhooks to Coffer and records its answers; may hold them back."""

    url: str
    target: str = ""
    holding: bool = False
    delivered: list[Delivery] = field(default_factory=list)
    held: list[Delivery] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self, target: str) -> None:
        with self.changed:
            self.target, self.holding = target, False
            self.delivered.clear()
            self.held.clear()

    def receive(self, delivery: Delivery) -> Delivery:
        with self.changed:
            if self.holding:
                self.held.append(delivery)
                self.changed.notify_all()
                return delivery
        return self.forward(delivery)

    def forward(self, delivery: Delivery) -> Delivery:
        response = httpx.post(
            f"{self.target}{delivery.path}",
            content=delivery.body,
            headers=delivery.headers,
            timeout=30,
        )
        sent = Delivery(delivery.path, delivery.headers, delivery.body, response.status_code)
        if response.headers.get("content-type", "").startswith("application/json"):
            sent.result = response.json().get("result")
        with self.changed:
            self.delivered.append(sent)
            self.changed.notify_all()
        return sent

    def release(self, which: Callable[[Delivery], bool] = lambda d: True) -> list[Delivery]:
        """Forward the held webhooks ``which`` selects, in the order they came; keep the rest."""
        with self.changed:
            chosen = [d for d in self.held if which(d)]
            self.held = [d for d in self.held if not which(d)]
        return [self.forward(d) for d in chosen]

    def wait(self, order_id: str, count: int, *, held: bool = False) -> list[Delivery]:
        """The first ``count`` webhooks about ``order_id`` (answered by Coffer, or held)."""

        def mine() -> list[Delivery]:
            return [d for d in (self.held if held else self.delivered) if d.order_id == order_id]

        with self.changed:
            self.changed.wait_for(lambda: len(mine()) >= count, timeout=20)
            found = mine()
        assert len(found) >= count, [(d.kind, d.result) for d in found]
        return found[:count]


@contextmanager
def relay_server() -> Iterator[Relay]:
    relay: Relay

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith(PG_HEADERS)}
            sent = relay.receive(Delivery(self.path, headers, body))
            reply = json.dumps({"result": sent.result or "held"}).encode()
            self.send_response(sent.status or 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    relay = Relay(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="webhook-relay")
    thread.start()
    try:
        yield relay
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -- the fakes, served once per module -----------------------------------------------------------


@dataclass
class StripeClock:
    """Unix seconds for the Stripe fake; tests move it with Coffer's clock (:func:`later`)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> int:
        return int(time.time() + self.offset.total_seconds())


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    with relay_server() as running:
        yield running


@pytest.fixture(scope="module")
def toss_pg() -> Iterator[tuple[FakeToss, str]]:
    """The Toss fake; its confirm hangs (``hang_next``) longer than Coffer's 2 s PG timeout."""
    fake = FakeToss(TOSS_SECRET_KEY, TOSS_SECURITY_KEY, hang_seconds=3.0)
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def stripe_clock() -> StripeClock:
    return StripeClock()


@pytest.fixture(scope="module")
def stripe_pg(stripe_clock: StripeClock) -> Iterator[tuple[FakeStripe, str]]:
    config = FakeStripeConfig(
        secret_key=STRIPE_SECRET_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET, clock=stripe_clock
    )
    app = create_stripe_app(config)
    with serve(app) as url:
        yield app.state.fake, url


# -- a world connected to one of them ------------------------------------------------------------


@dataclass
class Shop:
    """The world's service, charging through one fake PG (``pg`` in every request)."""

    world: World
    pg: str
    contract_id: UUID
    relay: Relay

    def start(self, member: str, method: str = "card", amount: int = 10000) -> dict[str, Any]:
        with self.world.api() as api:
            response = api.post(
                "/api/v1/charges",
                json={"member": member, "amount": amount, "method": method, "pg": self.pg,
                      "return_url": RETURN_URL},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        assert body["pg"] == self.pg
        return body

    def refund(self, charge_id: str, amount: int | None, reason: str) -> dict[str, Any]:
        with self.world.api() as api:
            response = api.post(
                f"/api/v1/charges/{charge_id}/refunds",
                json={"reason": reason} | ({"amount": amount} if amount is not None else {}),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def credits(self, charge_id: str | UUID) -> list[str]:
        """The PG payment keys credited for this charge (``charge_credits``)."""
        return self.world.db.read(
            lambda conn: list(
                conn.execute(
                    select(charge_credits.c.payment_key).where(
                        charge_credits.c.charge_id == UUID(str(charge_id))
                    )
                ).scalars()
            )
        )

    def grants(self, member: str) -> int:
        """Journals that granted the member cash: one per credited charge, never more."""

        def count(conn: Any) -> int:
            member_id = tenancy.get_member(conn, self.world.service_id, member).id
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(journals)
                    .where(journals.c.member_id == member_id, journals.c.kind == "grant")
                ).scalar_one()
            )

        return self.world.db.read(count)

    def events(self, charge_id: str | UUID) -> list[tuple[str, str, str | None]]:
        """The charge's timeline as (source, event, after)."""
        entries = self.world.db.read(lambda conn: timeline(conn, UUID(str(charge_id))))
        return [(e.source, e.event, e.after) for e in entries]


def connect(world: World, relay: Relay, pg: str, base_url: str, **keys: Any) -> Shop:
    def work(conn: Any) -> UUID:
        contract = connect_pg(
            conn, world.service_id, pg=pg, name=f"{pg} fake", base_url=base_url,
            box=SecretBox(world.runtime.settings.resolve_secret_key()), now=world.clock.now(),
            **keys,
        )  # fmt: skip
        return contract.id

    contract_id = world.db.write(work)
    relay.reset(world.coffer)
    return Shop(world, pg, contract_id, relay)


@pytest.fixture
def toss(
    world: World, relay: Relay, toss_pg: tuple[FakeToss, str]
) -> Iterator[tuple[Shop, FakeToss]]:
    fake, url = toss_pg
    shop = connect(
        world, relay, "toss", url, merchant_id="tosspayments",
        client_key="test_ck_coffer_through", secret_key=TOSS_SECRET_KEY,
        webhook_secret=TOSS_SECURITY_KEY,
    )  # fmt: skip
    fake.webhook_url = f"{relay.url}/pg/webhooks/{shop.contract_id}"
    yield shop, fake
    fake.webhook_url = None


@pytest.fixture
def stripe(
    world: World, relay: Relay, stripe_pg: tuple[FakeStripe, str]
) -> Iterator[tuple[Shop, FakeStripe]]:
    fake, url = stripe_pg
    shop = connect(
        world, relay, "stripe", url, merchant_id="acct_coffer_through",
        client_key="pk_test_coffer_through", secret_key=STRIPE_SECRET_KEY,
        webhook_secret=STRIPE_WEBHOOK_SECRET, methods=("card",),
    )  # fmt: skip
    fake.config.webhook_url = f"{relay.url}/pg/webhooks/{shop.contract_id}"
    yield shop, fake
    fake.config.webhook_url = None


@contextmanager
def later(world: World, clock: StripeClock, delta: timedelta) -> Iterator[None]:
    """Move Coffer's clock and the Stripe fake's together."""
    clock.offset += delta
    try:
        with world.clock.shifted(delta):
            yield
    finally:
        clock.offset -= delta


# -- the member's browser ------------------------------------------------------------------------


def to_pg(browser: httpx.Client, checkout_url: str) -> tuple[str, httpx.Response]:
    """Open the shop's checkout link: Coffer hands the browser to the PG's page."""
    handed = browser.get(checkout_url)
    assert handed.status_code == 303, handed.text
    url = handed.headers["location"]
    assert url.startswith(("http://127.0.0.1", "https://")), url
    page = browser.get(url)
    assert page.status_code == 200, page.text
    return url, page


def toss_window(checkout_url: str, result: str = "approve", **fields: str) -> httpx.Response:
    """Pay (or refuse, or close) in the Toss fake's payment window; its redirect (303)."""
    with httpx.Client(headers={"Accept": "text/html"}, timeout=30) as browser:
        url, page = to_pg(browser, checkout_url)
        (form,) = read_forms(page.text)
        assert result in form.selects["result"]
        answer = browser.post(
            urljoin(url, form.action), data=form.fields | {"result": result} | fields
        )
    assert answer.status_code == 303, answer.text
    return answer


def stripe_page(checkout_url: str, *cards: str) -> httpx.Response:
    """Try each card on Stripe's hosted page; the last answer (303 on success)."""
    return stripe_cards(checkout_url, *cards)[1]


def stripe_cards(url: str, *cards: str) -> tuple[str, httpx.Response]:
    """Try each card on Stripe's page, reached through Coffer's checkout link or directly.

    Returns the hosted page's URL and the last answer.
    """
    with httpx.Client(headers={"Accept": "text/html"}, timeout=30) as browser:
        if "/pg/checkout/" in url:
            url, page = to_pg(browser, url)
        else:
            page = browser.get(url)
        for card in cards:
            assert page.status_code == 200, page.text
            (form,) = read_forms(page.text)
            filled = form.fields | {"card_number": card, "expiry": "12/39", "cvc": "123"}
            page = browser.post(urljoin(url, form.action), data=filled)
    return url, page


def back_link(page: httpx.Response) -> str:
    """The hosted page's way back to the shop (Checkout's ``cancel_url``)."""
    found = re.search(r'<a href="([^"]+)">Back</a>', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def back_to_shop(world: World, url: str) -> dict[str, str]:
    """Go to ``url`` (a Coffer return) the way the browser would; the shop's query."""
    return world.follow(httpx.Response(303, headers={"location": url}))


def confirms(fake: FakeToss) -> int:
    return sum(r[:2] == ("POST", "/v1/payments/confirm") for r in fake.requests)


# -- Toss ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["card", "transfer", "mobile", "gift"])
def test_toss_instant_methods_are_confirmed_and_credited_once(
    world: World, toss: tuple[Shop, FakeToss], method: str
) -> None:
    shop, fake = toss
    member = world.member()
    started = shop.start(member, method, 10000)
    back = world.follow(toss_window(started["checkout_url"]))
    assert back == {"from": "coffer", "charge_id": started["id"], "status": "approved"}
    charge = world.charge(started["id"])
    assert (charge.status, charge.pg, charge.method, charge.contract_id) == (
        "approved", "toss", method, shop.contract_id,
    )  # fmt: skip
    assert charge.payment_key is not None
    assert fake.payments[charge.payment_key].status == "DONE"
    assert world.balance(member) == 10000
    # Toss's PAYMENT_STATUS_CHANGED (DONE) follows; Coffer checks it with Toss: a no-op now.
    (done,) = shop.relay.wait(charge.order_id, 1)
    assert (done.kind, done.status, done.result) == ("PAYMENT_STATUS_CHANGED", 200, "applied")
    assert world.balance(member) == 10000
    assert shop.credits(charge.id) == [charge.payment_key]
    assert shop.grants(member) == 1
    moves = [(source, event) for source, event, _ in shop.events(charge.id)]
    assert moves[:2] == [("api", "created"), ("return", "in_progress")]
    # The confirm's answer or the webhook, whichever Coffer applied first; never both.
    assert [e for e in moves if e[1] == "approved"] in (
        [("confirm", "approved")], [("webhook", "approved")],
    )  # fmt: skip
    assert_invariants(world.db)


def test_toss_a_card_refused_in_the_window_fails_the_charge(
    world: World, toss: tuple[Shop, FakeToss]
) -> None:
    shop, _ = toss
    member = world.member()
    started = shop.start(member)
    back = world.follow(toss_window(started["checkout_url"], "reject"))
    assert back["status"] == "failed"
    charge = world.charge(started["id"])
    assert (charge.failure_code, charge.payment_key) == ("REJECT_CARD_COMPANY", None)
    (aborted,) = shop.relay.wait(charge.order_id, 1)  # ABORTED, checked with Toss: no change
    assert aborted.result == "applied"
    assert world.charge(started["id"]).status == "failed"
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_toss_virtual_account_waits_then_the_deposit_callback_credits(
    world: World, toss: tuple[Shop, FakeToss]
) -> None:
    shop, fake = toss
    member = world.member()
    started = shop.start(member, "virtual_account", 30000)
    back = world.follow(toss_window(started["checkout_url"], bank="88"))
    assert back["status"] == "waiting_for_deposit"
    charge = world.charge(started["id"])
    assert (charge.va_bank, charge.payment_key) == ("88", fake.orders[charge.order_id])
    assert charge.payment_key is not None
    assert charge.va_account is not None
    assert charge.va_due_at is not None
    assert world.balance(member) == 0
    issued = shop.relay.wait(charge.order_id, 2)  # status changed + DEPOSIT_CALLBACK (issued)
    assert {d.kind for d in issued} == {"PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK"}
    assert all(d.result == "applied" for d in issued)
    assert world.charge(charge.id).status == "waiting_for_deposit"

    shop.relay.holding = True
    fake.deposit(charge.payment_key)
    shop.relay.wait(charge.order_id, 2, held=True)
    (callback,) = shop.relay.release(lambda d: d.kind == "DEPOSIT_CALLBACK")
    assert (callback.status, callback.result) == (200, "applied")
    after = world.charge(charge.id)
    assert after.status == "approved"
    assert world.balance(member) == 30000
    assert ("webhook", "deposited", "approved") in shop.events(charge.id)
    (status_changed,) = shop.relay.release()
    assert status_changed.result == "applied"
    assert world.balance(member) == 30000
    assert shop.credits(charge.id) == [charge.payment_key]
    assert_invariants(world.db)


def test_toss_a_redelivered_webhook_is_a_duplicate(
    world: World, toss: tuple[Shop, FakeToss]
) -> None:
    shop, fake = toss
    member = world.member()
    started = shop.start(member)
    assert world.follow(toss_window(started["checkout_url"]))["status"] == "approved"
    order_id = world.charge(started["id"]).order_id
    (first,) = shop.relay.wait(order_id, 1)
    assert first.result == "applied"
    fake.redeliver(first.headers, first.body)
    again = shop.relay.wait(order_id, 2)[1]
    assert again.headers["tosspayments-webhook-transmission-retried-count"] == "1"
    assert (again.status, again.result) == (200, "duplicate")
    assert world.balance(member) == 10000
    assert shop.grants(member) == 1
    assert_invariants(world.db)


def test_toss_a_partial_refund_cancels_once_at_toss(
    world: World, toss: tuple[Shop, FakeToss]
) -> None:
    shop, fake = toss
    member = world.member()
    started = shop.start(member)
    assert world.follow(toss_window(started["checkout_url"]))["status"] == "approved"
    charge = world.charge(started["id"])
    assert charge.payment_key is not None
    shop.relay.wait(charge.order_id, 1)  # the DONE webhook, out of the way

    refund = shop.refund(started["id"], 4000, "member asked")
    assert (refund["status"], refund["amount"], refund["kind"]) == (
        "pending", 4000, "pg_cancel",
    )  # fmt: skip
    assert world.balance(member) == 6000  # the cash left at once
    done = charging.process_refund(world.runtime.payments(), UUID(refund["id"]))
    assert done.status == "done"
    payment = fake.payments[charge.payment_key]
    assert [(c["cancelAmount"], c["transactionKey"]) for c in payment.cancels] == [
        (4000, done.transaction_key)
    ]
    assert payment.cancels[0]["cancelReason"].startswith("member asked [refund ")
    assert (payment.status, payment.balance) == ("PARTIAL_CANCELED", 6000)
    # Toss's PARTIAL_CANCELED webhook agrees with the refund: nothing flagged.
    cancelled = shop.relay.wait(charge.order_id, 2)[1]
    assert cancelled.result == "applied"
    # A retried job finds the refund done and sends nothing.
    assert charging.process_refund(world.runtime.payments(), done.id).status == "done"
    assert len(fake.payments[charge.payment_key].cancels) == 1
    after = world.charge(charge.id)
    assert (after.status, after.refunded, after.attention) == ("partially_cancelled", 4000, None)
    assert world.balance(member) == 6000
    assert_invariants(world.db)


def test_toss_a_confirm_that_hangs_is_unknown_until_the_janitor(
    world: World, toss: tuple[Shop, FakeToss]
) -> None:
    shop, fake = toss
    member = world.member()
    started = shop.start(member)
    confirmed = confirms(fake)
    shop.relay.holding = True  # Toss's DONE webhook would settle it first
    fake.hang_next("POST", "/v1/payments/confirm")  # Toss approves; its answer comes too late
    back = world.follow(toss_window(started["checkout_url"]))
    assert back["status"] == "unknown"
    charge = world.charge(started["id"])
    assert charge.payment_key is not None
    assert fake.payments[charge.payment_key].status == "DONE"
    assert world.balance(member) == 0
    with world.clock.shifted(timedelta(minutes=2)):
        report = world.janitor()
    assert (report.charges_visited, report.charges_settled, report.failures) == (1, 1, 0)
    assert world.charge(charge.id).status == "approved"
    assert ("janitor", "approved", "approved") in shop.events(charge.id)
    assert world.balance(member) == 10000
    shop.relay.wait(charge.order_id, 1, held=True)
    (late,) = shop.relay.release()
    assert late.result == "applied"
    assert world.balance(member) == 10000
    assert shop.credits(charge.id) == [charge.payment_key]
    assert shop.grants(member) == 1
    assert confirms(fake) == confirmed + 1  # the janitor asked, and did not confirm again
    assert_invariants(world.db)


# -- Stripe --------------------------------------------------------------------------------------


def test_stripe_card_through_checkout_then_the_webhooks_credit_nothing_more(
    world: World, stripe: tuple[Shop, FakeStripe]
) -> None:
    shop, fake = stripe
    member = world.member()
    started = shop.start(member)
    shop.relay.holding = True  # the confirm speaks first
    paid = stripe_page(started["checkout_url"], CARD_OK)
    assert paid.status_code == 303, paid.text
    back = world.follow(paid)
    assert back == {"from": "coffer", "charge_id": started["id"], "status": "approved"}
    charge = world.charge(started["id"])
    assert charge.payment_key is not None
    assert charge.payment_key.startswith("pi_")
    assert fake.objects[charge.payment_key]["status"] == "succeeded"
    assert world.balance(member) == 10000

    shop.relay.wait(charge.order_id, 3, held=True)
    answered = {d.kind: d.result for d in shop.relay.release()}
    assert answered == {
        "charge.succeeded": "unmatched",  # authentic, but no payment state Coffer reads
        "payment_intent.succeeded": "applied",
        "checkout.session.completed": "applied",
    }
    completed = next(d for d in shop.relay.delivered if d.kind == "checkout.session.completed")
    again = shop.relay.forward(completed)  # Stripe delivers it once more
    assert (again.status, again.result) == (200, "duplicate")
    assert world.balance(member) == 10000
    assert shop.credits(charge.id) == [charge.payment_key]
    assert shop.grants(member) == 1
    assert world.charge(charge.id).attention is None
    assert_invariants(world.db)


def test_stripe_webhooks_that_arrive_before_the_member_settle_the_charge_once(
    world: World, stripe: tuple[Shop, FakeStripe]
) -> None:
    shop, _ = stripe
    member = world.member()
    started = shop.start(member)
    paid = stripe_page(started["checkout_url"], CARD_OK)  # Stripe sends the events right away
    order_id = world.charge(started["id"]).order_id
    arrived = shop.relay.wait(order_id, 3)
    assert [d.result for d in arrived if d.kind != "charge.succeeded"] == ["applied", "applied"]
    assert world.charge(started["id"]).status == "approved"
    back = world.follow(paid)  # the member's return finds it settled
    assert back["status"] == "approved"
    charge = world.charge(started["id"])
    assert ("webhook", "approved", "approved") in shop.events(charge.id)
    assert world.balance(member) == 10000
    assert shop.credits(charge.id) == [charge.payment_key]
    assert shop.grants(member) == 1
    assert charge.attention is None
    assert_invariants(world.db)


def test_stripe_a_declined_card_then_back_to_the_shop_fails_the_charge(
    world: World, stripe: tuple[Shop, FakeStripe]
) -> None:
    shop, _ = stripe
    member = world.member()
    started = shop.start(member)
    page = stripe_page(started["checkout_url"], CARD_DECLINED)
    assert page.status_code == 200
    assert "declined" in page.text  # Checkout shows the refusal; the member may try again
    order_id = world.charge(started["id"]).order_id
    (failed,) = shop.relay.wait(order_id, 1)
    assert (failed.kind, failed.result) == ("payment_intent.payment_failed", "applied")
    assert world.charge(started["id"]).status == "created"  # not final while Checkout is open
    back = back_to_shop(world, back_link(page))
    assert back["status"] == "failed"
    charge = world.charge(started["id"])
    assert (charge.status, charge.failure_code) == ("failed", "PAY_PROCESS_CANCELED")
    assert [e[1:] for e in shop.events(charge.id)] == [
        ("created", "created"),
        ("pending_at_pg", "created"),
        ("failed", "failed"),
    ]
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_stripe_a_return_for_a_refused_checkout_closes_it_and_fails_the_charge(
    world: World, stripe: tuple[Shop, FakeStripe]
) -> None:
    shop, fake = stripe
    member = world.member()
    started = shop.start(member)
    url, page = stripe_cards(started["checkout_url"], CARD_DECLINED)
    assert page.status_code == 200
    session_id = url.rsplit("/", 1)[-1]
    order_id = world.charge(started["id"]).order_id
    # A success return nobody paid for (a forged or replayed link): Coffer confirms with
    # Stripe, which expires the open session first so that the refusal is final.
    shop.relay.wait(order_id, 1)
    shop.relay.holding = True  # Stripe's checkout.session.expired, after the confirm's answer
    success = f"{world.coffer}/pg/return/{started['id']}/success"
    back = back_to_shop(world, f"{success}?session_id={session_id}&order_id={order_id}")
    assert back["status"] == "failed"
    charge = world.charge(started["id"])
    assert (charge.status, charge.failure_code) == ("failed", "generic_decline")
    assert fake.objects[session_id]["status"] == "expired"
    (expired,) = shop.relay.release()
    assert (expired.kind, expired.result) == ("checkout.session.expired", "applied")
    assert world.charge(started["id"]).status == "failed"
    assert "no longer available" in stripe_cards(url)[1].text  # it takes no other card
    assert world.balance(member) == 0
    assert_invariants(world.db)


def test_stripe_a_declined_card_then_another_card_is_confirmed_on_return(
    world: World, stripe: tuple[Shop, FakeStripe]
) -> None:
    shop, fake = stripe
    member = world.member()
    started = shop.start(member)
    order_id = world.charge(started["id"]).order_id
    with httpx.Client(headers={"Accept": "text/html"}, timeout=30) as browser:
        url, page = to_pg(browser, started["checkout_url"])
        (form,) = read_forms(page.text)
        card = form.fields | {"expiry": "12/39", "cvc": "123"}
        refused = browser.post(
            urljoin(url, form.action), data=card | {"card_number": CARD_DECLINED}
        )
        assert refused.status_code == 200
        (failed,) = shop.relay.wait(order_id, 1)  # payment_intent.payment_failed: not final
        assert (failed.kind, failed.result) == ("payment_intent.payment_failed", "applied")
        shop.relay.holding = True  # the success events are late: the return speaks first
        paid = browser.post(urljoin(url, form.action), data=card | {"card_number": CARD_OK})
    back = world.follow(paid)
    assert back == {"from": "coffer", "charge_id": started["id"], "status": "approved"}
    charge = world.charge(started["id"])
    assert charge.attention is None
    assert charge.payment_key is not None
    assert fake.objects[charge.payment_key]["status"] == "succeeded"
    assert [e[:2] for e in shop.events(charge.id)] == [
        ("api", "created"),
        ("webhook", "pending_at_pg"),
        ("return", "in_progress"),
        ("confirm", "approved"),
    ]
    assert world.balance(member) == 10000
    shop.relay.wait(order_id, 3, held=True)
    assert {d.result for d in shop.relay.release()} <= {"applied", "unmatched"}
    assert world.balance(member) == 10000
    assert shop.grants(member) == 1
    assert_invariants(world.db)


def test_stripe_a_declined_card_left_open_expires_with_the_checkout_window(
    world: World, stripe: tuple[Shop, FakeStripe], stripe_clock: StripeClock
) -> None:
    shop, fake = stripe
    member = world.member()
    started = shop.start(member)
    url, page = stripe_cards(started["checkout_url"], CARD_DECLINED)
    assert page.status_code == 200
    order_id = world.charge(started["id"]).order_id
    shop.relay.wait(order_id, 1)
    assert world.charge(started["id"]).status == "created"
    with later(world, stripe_clock, timedelta(minutes=13)):
        report = world.janitor()
    assert (report.charges_visited, report.charges_settled, report.failures) == (1, 1, 0)
    charge = world.charge(started["id"])
    assert (charge.status, charge.failure_code) == ("expired", "checkout_expired")
    assert world.balance(member) == 0

    # Stripe's session outlives Coffer's window (docs/gateways/stripe.md, Limits): a member who
    # pays there now is approved by Stripe, and Coffer flags the charge instead of crediting it.
    paid = stripe_cards(url, CARD_OK)[1]
    assert paid.status_code == 303
    assert world.follow(paid)["status"] == "expired"
    shop.relay.wait(order_id, 4)
    charge = world.charge(started["id"])
    assert (charge.status, charge.attention) == ("expired", "approved_after_failure")
    session = fake.objects[url.rsplit("/", 1)[-1]]
    assert fake.objects[session["payment_intent"]]["status"] == "succeeded"
    assert world.balance(member) == 0
    assert shop.grants(member) == 0
    assert_invariants(world.db)


def test_stripe_a_partial_refund_is_done(world: World, stripe: tuple[Shop, FakeStripe]) -> None:
    shop, fake = stripe
    member = world.member()
    started = shop.start(member)
    assert world.follow(stripe_page(started["checkout_url"], CARD_OK))["status"] == "approved"
    charge = world.charge(started["id"])
    assert charge.payment_key is not None
    shop.relay.wait(charge.order_id, 3)

    refund = shop.refund(started["id"], 3000, "member asked")
    assert world.balance(member) == 7000
    done = charging.process_refund(world.runtime.payments(), UUID(refund["id"]))
    assert done.status == "done"
    refunds = [r for r in fake.of_kind("refund") if r["payment_intent"] == charge.payment_key]
    assert [(r["amount"], r["status"]) for r in refunds] == [(3000, "succeeded")]
    assert refunds[0]["metadata"]["reason"].startswith("member asked [refund ")
    # The fake delivers charge.refunded before it answers the refund (Stripe may too): the
    # webhook completes the refund, and the cancel's answer still names Stripe's refund.
    refunded = shop.relay.wait(charge.order_id, 4)[3]
    assert (refunded.kind, refunded.result) == ("charge.refunded", "applied")
    assert done.transaction_key == refunds[0]["id"]
    assert charging.process_refund(world.runtime.payments(), done.id).status == "done"
    mine = [r for r in fake.of_kind("refund") if r["payment_intent"] == charge.payment_key]
    assert len(mine) == 1  # the retried job refunded nothing more
    after = world.charge(charge.id)
    assert (after.status, after.refunded, after.attention) == ("partially_cancelled", 3000, None)
    assert world.balance(member) == 7000
    assert_invariants(world.db)
