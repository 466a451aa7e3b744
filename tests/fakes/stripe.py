"""A local fake of Stripe's API v1: what the Stripe adapter uses, as Stripe documents it.

Requests are form-encoded (``line_items[0][price_data][currency]=krw``), replies JSON, errors
``{"error": {"type", "code", "decline_code", "message", "param"}}``. ``/v1`` needs
``Authorization: Bearer <secret key>``. Served routes:

- ``POST /v1/checkout/sessions`` → a Checkout Session whose ``url`` is the hosted page below;
  ``GET /v1/checkout/sessions/{id}`` (``expand[]``), ``GET /v1/checkout/sessions?payment_intent=``,
  ``POST /v1/checkout/sessions/{id}/expire``.
- ``GET /checkout/pay/{id}`` + ``POST`` — the hosted page: Stripe's test cards 4242 4242 4242 4242
  (succeeds), 4000 0000 0000 0002 (``card_declined``/``generic_decline``), 4000 0000 0000 9995
  (``insufficient_funds``). A success redirects (303) to ``success_url`` with
  ``{CHECKOUT_SESSION_ID}`` replaced; a decline re-renders the page (the member may retry). The
  PaymentIntent is created at the first attempt (API 2022-08-01 and later) and copies
  ``payment_intent_data[metadata]``; its Charge copies the PaymentIntent's metadata.
- ``GET /v1/payment_intents/{id}``, ``GET /v1/payment_intents/search?query=metadata['k']:'v'``
  (immediately consistent here, unlike Stripe).
- ``POST /v1/refunds`` with ``Idempotency-Key`` (same key + same params → the saved status and
  body again, ``Idempotent-Replayed: true``; other params → 400 ``idempotency_error``);
  ``GET /v1/refunds?payment_intent=``.
- ``GET /v1/balance_transactions?created[gte]=&created[lt]=&limit=&starting_after=`` newest
  first with ``has_more``; charge lines carry a fee (3.4 %), refund lines none (Stripe keeps it).
- Events POSTed to ``webhook_url`` as pretty-printed JSON with
  ``Stripe-Signature: t=…,v1=…,v0=…`` (its own HMAC here, independent of the kernel's).

Knobs: ``POST /_fake/faults`` ``{"method", "path", "kind", "times"}`` makes the next matching
``/v1`` request(s) answer ``500`` / ``429`` / ``401`` without doing anything, or ``hang`` (do the
work, answer after ``hang_seconds``) or ``wrong_body`` (do the work, answer 200 with HTML).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

Pairs = list[tuple[str, str]]
Json = dict[str, Any]

SUCCEED = "4242424242424242"
DECLINES = {
    "4000000000000002": ("generic_decline", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
}
FEE_PER_MILLE = 34


def unix_now() -> int:
    return int(time.time())


@dataclass
class FakeStripeConfig:
    secret_key: str = "sk_test_coffer_fake"
    webhook_secret: str = "whsec_coffer_fake"
    webhook_url: str | None = None
    hang_seconds: float = 3.0
    clock: Callable[[], int] = unix_now


@dataclass
class Fault:
    method: str
    path: str
    kind: str  # 500 | 429 | 401 | hang | wrong_body
    times: int = 1


class StripeError(Exception):
    def __init__(self, status: int, message: str, **fields: str | None) -> None:
        super().__init__(message)
        self.status = status
        inner: dict[str, str | None] = {"type": "invalid_request_error", "message": message}
        self.body: Json = {"error": inner | fields}


def error(status: int, kind: str, message: str, **fields: str | None) -> JSONResponse:
    inner: dict[str, str | None] = {"type": kind, "message": message}
    return JSONResponse({"error": inner | fields}, status)


def first(pairs: Pairs, key: str) -> str | None:
    return next((v for k, v in pairs if k == key), None)


def require(pairs: Pairs, key: str) -> str:
    value = first(pairs, key)
    if not value:
        raise StripeError(
            400, f"Missing required param: {key}.", code="parameter_missing", param=key
        )
    return value


def integer(pairs: Pairs, key: str, default: int | None = None) -> int | None:
    value = first(pairs, key)
    if value is None:
        return default
    if not value.isdigit():
        raise StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=key
        )
    return int(value)


def listed(pairs: Pairs, key: str) -> list[str]:
    """``key[]=a&key[]=b`` or ``key[0]=a&key[1]=b``."""
    pattern = re.compile(re.escape(key) + r"\[(\d*)\]$")
    return [v for k, v in pairs if pattern.match(k)]


def mapping(pairs: Pairs, prefix: str) -> dict[str, str]:
    """``prefix[k]=v`` pairs as a dict (Stripe's metadata encoding)."""
    pattern = re.compile(re.escape(prefix) + r"\[([^\[\]]+)\]$")
    return {m.group(1): v for k, v in pairs if (m := pattern.match(k))}


class FakeStripe:
    """The fake's state: every object by id, the ledger of balance transactions, saved keys."""

    def __init__(self, config: FakeStripeConfig) -> None:
        self.config = config
        self.objects: dict[str, Json] = {}
        self.session_extra: dict[str, Json] = {}  # payment_intent_data per session
        self.saved: dict[str, tuple[Pairs, int, Json]] = {}  # Idempotency-Key → request, reply
        self.faults: list[Fault] = []
        self.pending_events: list[Json] = []
        self.deliveries: list[tuple[dict[str, str], bytes, int | str]] = []
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):010d}"

    def add(self, obj: Json) -> Json:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, obj_id: str, kind: str) -> Json:
        found = self.objects.get(obj_id)
        if found is None or found["object"] != kind:
            raise StripeError(
                404, f"No such {kind}: '{obj_id}'", code="resource_missing", param="id"
            )
        return found

    def of_kind(self, kind: str) -> list[Json]:
        return [o for o in self.objects.values() if o["object"] == kind]

    # -- rendering ---------------------------------------------------------------------------

    def expand(self, obj: Json, paths: list[str]) -> Json:
        out = copy.deepcopy(obj)
        for path in paths:
            self._expand(out, path.split("."))
        return out

    def _expand(self, obj: Json, parts: list[str]) -> None:
        if not parts:
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and obj.get("object") in ("list", "search_result"):
            for item in obj["data"]:
                self._expand(item, rest)
            return
        value = obj.get(head)
        if isinstance(value, str) and value in self.objects:
            value = obj[head] = copy.deepcopy(self.objects[value])
        if isinstance(value, dict):
            self._expand(value, rest)

    @staticmethod
    def page(kind: str, url: str, items: list[Json], pairs: Pairs) -> Json:
        limit = integer(pairs, "limit", 10) or 10
        after = first(pairs, "starting_after")
        if after is not None:
            ids = [o["id"] for o in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        return {"object": kind, "url": url, "has_more": len(items) > limit, "data": items[:limit]}

    # -- events ------------------------------------------------------------------------------

    def emit(self, kind: str, obj: Json, created: int) -> None:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self.pending_events.append(event)

    def sign(self, body: bytes) -> str:
        t = self.config.clock()
        v1 = hmac.new(self.config.webhook_secret.encode(), f"{t}.".encode() + body, "sha256")
        v0 = hashlib.sha256(f"{t}.".encode() + body).hexdigest()  # test mode's extra scheme
        return f"t={t},v1={v1.hexdigest()},v0={v0}"

    async def deliver(self) -> None:
        events, self.pending_events = self.pending_events, []
        if self.config.webhook_url is None:
            return
        async with httpx.AsyncClient(timeout=5.0) as client:
            for event in events:
                body = json.dumps(event, indent=2).encode()
                headers = {"Content-Type": "application/json", "Stripe-Signature": self.sign(body)}
                try:
                    reply = await client.post(
                        self.config.webhook_url, content=body, headers=headers
                    )
                    outcome: int | str = reply.status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.deliveries.append((headers, body, outcome))

    # -- checkout ----------------------------------------------------------------------------

    def create_session(self, pairs: Pairs, base_url: str) -> Json:
        if require(pairs, "mode") != "payment":
            raise StripeError(400, "Only mode=payment is faked.", param="mode")
        success_url = require(pairs, "success_url")
        currency = require(pairs, "line_items[0][price_data][currency]").lower()
        unit_amount = integer(pairs, "line_items[0][price_data][unit_amount]")
        quantity = integer(pairs, "line_items[0][quantity]")
        require(pairs, "line_items[0][price_data][product_data][name]")
        if not unit_amount or not quantity:
            raise StripeError(
                400, "A line item needs unit_amount and quantity.", param="line_items"
            )
        methods = listed(pairs, "payment_method_types") or ["card"]
        if methods != ["card"]:
            raise StripeError(
                400,
                f"The payment method type provided: {methods[0]} is invalid.",
                param="payment_method_types",
            )
        now = self.config.clock()
        session_id = self.new_id("cs_test")
        self.session_extra[session_id] = {
            "metadata": mapping(pairs, "payment_intent_data[metadata]")
        }
        return self.add(
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": unit_amount * quantity,
                "amount_total": unit_amount * quantity,
                "cancel_url": first(pairs, "cancel_url"),
                "client_reference_id": first(pairs, "client_reference_id"),
                "created": now,
                "currency": currency,
                "expires_at": integer(pairs, "expires_at", now + 86400),
                "livemode": False,
                "metadata": mapping(pairs, "metadata"),
                "mode": "payment",
                "payment_intent": None,
                "payment_method_types": methods,
                "payment_status": "unpaid",
                "status": "open",
                "success_url": success_url,
                "url": f"{base_url}checkout/pay/{session_id}",
            }
        )

    def _intent_for(self, session: Json, now: int) -> Json:
        if session["payment_intent"] is not None:
            return self.objects[session["payment_intent"]]
        pi = self.add(
            {
                "id": self.new_id("pi"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": 0,
                "canceled_at": None,
                "cancellation_reason": None,
                "created": now,
                "currency": session["currency"],
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": dict(self.session_extra[session["id"]]["metadata"]),
                "payment_method_types": list(session["payment_method_types"]),
                "status": "requires_payment_method",
            }
        )
        session["payment_intent"] = pi["id"]
        return pi

    def pay(self, session: Json, card_number: str) -> str | None:
        """Attempt a card; the success URL on success, None on a decline (page shown again)."""
        now = self.config.clock()
        pi = self._intent_for(session, now)
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits != SUCCEED:
            decline_code, message = DECLINES.get(digits, (None, "Your card number is incorrect."))
            pi["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined" if decline_code else "incorrect_number",
                "decline_code": decline_code,
                "message": message,
            }
            pi["status"] = "requires_payment_method"
            self.emit("payment_intent.payment_failed", pi, now)
            return None
        amount = pi["amount"]
        fee = amount * FEE_PER_MILLE // 1000
        charge_id, txn_id = self.new_id("ch"), self.new_id("txn")
        charge = self.add(
            {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "balance_transaction": txn_id,
                "created": now,
                "currency": pi["currency"],
                "metadata": dict(pi["metadata"]),
                "paid": True,
                "payment_intent": pi["id"],
                "payment_method_details": {
                    "type": "card",
                    "card": {"brand": "visa", "last4": digits[-4:]},
                },
                "refunded": False,
                "status": "succeeded",
            }
        )
        self._ledger(txn_id, "charge", amount, fee, charge_id, now, pi["currency"])
        pi.update(
            status="succeeded",
            amount_received=amount,
            latest_charge=charge_id,
            last_payment_error=None,
        )
        session.update(status="complete", payment_status="paid", url=None)
        self.emit("charge.succeeded", charge, now)
        self.emit("payment_intent.succeeded", pi, now)
        self.emit("checkout.session.completed", session, now)
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])

    def _ledger(
        self, txn_id: str, kind: str, amount: int, fee: int, source: str, now: int, currency: str
    ) -> None:
        details = [{"amount": fee, "currency": currency, "type": "stripe_fee"}] if fee else []
        self.add(
            {
                "id": txn_id,
                "object": "balance_transaction",
                "amount": amount,
                "available_on": now + 7 * 86400,
                "created": now,
                "currency": currency,
                "description": None,
                "fee": fee,
                "fee_details": details,
                "net": amount - fee,
                "reporting_category": kind,
                "source": source,
                "status": "pending",
                "type": kind,
            }
        )

    def expire(self, session: Json) -> Json:
        if session["status"] != "open":
            raise StripeError(400, "This Checkout Session is not in an expireable state.")
        session.update(status="expired", url=None)
        self.emit("checkout.session.expired", session, self.config.clock())
        return session

    # -- refunds -----------------------------------------------------------------------------

    def refund(self, pairs: Pairs) -> Json:
        pi = self.get(require(pairs, "payment_intent"), "payment_intent")
        if pi["status"] != "succeeded" or pi["latest_charge"] is None:
            raise StripeError(400, f"PaymentIntent {pi['id']} has no successful charge to refund.")
        charge = self.objects[pi["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = integer(pairs, "amount", left) or 0
        if amount > left:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                param="amount",
            )
        now = self.config.clock()
        refund_id, txn_id = self.new_id("re"), self.new_id("txn")
        refund = self.add(
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "balance_transaction": txn_id,
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "metadata": mapping(pairs, "metadata"),
                "payment_intent": pi["id"],
                "reason": first(pairs, "reason"),
                "status": "succeeded",
            }
        )
        self._ledger(txn_id, "refund", -amount, 0, refund_id, now, charge["currency"])
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.emit("refund.created", refund, now)
        self.emit("charge.refunded", charge, now)
        return refund


# -- the app ---------------------------------------------------------------------------------


async def _pairs(request: Request) -> Pairs:
    if request.method == "GET":
        return list(request.query_params.multi_items())
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


def _fingerprint(pairs: Pairs) -> Pairs:
    return sorted(pairs)


def create_app(config: FakeStripeConfig | None = None) -> FastAPI:
    fake = FakeStripe(config or FakeStripeConfig())
    app = FastAPI()
    app.state.fake = fake

    @app.middleware("http")
    async def stripe_edge(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        if not path.startswith("/v1/"):
            return await call_next(request)  # type: ignore[no-any-return]
        if request.headers.get("authorization") != f"Bearer {fake.config.secret_key}":
            return error(401, "invalid_request_error", "Invalid API Key provided.")
        fault = next(
            (f for f in fake.faults if f.method == request.method and path.startswith(f.path)),
            None,
        )
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                fake.faults.remove(fault)
            if fault.kind == "500":
                return error(500, "api_error", "An unknown error occurred.")
            if fault.kind == "429":
                return error(429, "invalid_request_error", "Too many requests.", code="rate_limit")
            if fault.kind == "401":
                return error(401, "invalid_request_error", "Expired API Key provided.")
        try:
            response: Response = await call_next(request)
        finally:
            await fake.deliver()
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fake.config.hang_seconds)
        if fault is not None and fault.kind == "wrong_body":
            return HTMLResponse("<html><body>502 upstream says hello</body></html>", 200)
        return response

    @app.exception_handler(StripeError)
    async def stripe_error(request: Request, exc: StripeError) -> JSONResponse:
        return JSONResponse(exc.body, exc.status)

    @app.post("/_fake/faults")
    async def add_fault(request: Request) -> Json:
        body = await request.json()
        fake.faults.append(
            Fault(body["method"], body["path"], str(body["kind"]), body.get("times", 1))
        )
        return {"faults": len(fake.faults)}

    # -- Checkout Sessions -------------------------------------------------------------------

    @app.post("/v1/checkout/sessions")
    async def create_session(request: Request) -> Json:
        return copy.deepcopy(fake.create_session(await _pairs(request), str(request.base_url)))

    @app.get("/v1/checkout/sessions")
    async def list_sessions(request: Request) -> Json:
        pairs = await _pairs(request)
        wanted = first(pairs, "payment_intent")
        found = [
            s
            for s in reversed(fake.of_kind("checkout.session"))
            if wanted in (None, s["payment_intent"])
        ]
        return fake.expand(
            fake.page("list", "/v1/checkout/sessions", found, pairs), listed(pairs, "expand")
        )

    @app.get("/v1/checkout/sessions/{session_id}")
    async def get_session(session_id: str, request: Request) -> Json:
        pairs = await _pairs(request)
        return fake.expand(fake.get(session_id, "checkout.session"), listed(pairs, "expand"))

    @app.post("/v1/checkout/sessions/{session_id}/expire")
    async def expire_session(session_id: str, request: Request) -> Json:
        return copy.deepcopy(fake.expire(fake.get(session_id, "checkout.session")))

    # -- the hosted page (what the member's browser sees) -------------------------------------

    def page(session: Json, problem: str | None = None) -> HTMLResponse:
        if session["status"] != "open":
            return HTMLResponse("<p>This Checkout Session is no longer available.</p>")
        alert = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
        return HTMLResponse(
            f"<h1>Pay {session['amount_total']} {session['currency'].upper()}</h1>{alert}"
            f'<form method="post" action="/checkout/pay/{session["id"]}">'
            '<input name="card_number" value=""><input name="expiry" value="">'
            '<input name="cvc" value=""><button type="submit">Pay</button></form>'
            f'<a href="{html.escape(session["cancel_url"] or "")}">Back</a>'
        )

    @app.get("/checkout/pay/{session_id}")
    async def hosted_page(session_id: str) -> HTMLResponse:
        return page(fake.get(session_id, "checkout.session"))

    @app.post("/checkout/pay/{session_id}", response_model=None)
    async def hosted_pay(session_id: str, request: Request) -> Response:
        session = fake.get(session_id, "checkout.session")
        if session["status"] != "open":
            return page(session)
        form = await _pairs(request)
        redirect = fake.pay(session, first(form, "card_number") or "")
        await fake.deliver()
        if redirect is None:
            return page(
                session, fake.objects[session["payment_intent"]]["last_payment_error"]["message"]
            )
        return RedirectResponse(redirect, status_code=303)

    # -- PaymentIntents ----------------------------------------------------------------------

    @app.get("/v1/payment_intents/search")
    async def search_intents(request: Request) -> Json:
        pairs = await _pairs(request)
        query = first(pairs, "query") or ""
        match = re.fullmatch(r"metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'", query)
        if match is None:
            raise StripeError(400, f"Unsupported search query: {query}", param="query")
        key, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        found = [
            p for p in reversed(fake.of_kind("payment_intent")) if p["metadata"].get(key) == value
        ]
        result = fake.page("search_result", "/v1/payment_intents/search", found, pairs)
        result["next_page"] = None
        return fake.expand(result, listed(pairs, "expand"))

    @app.get("/v1/payment_intents/{intent_id}")
    async def get_intent(intent_id: str, request: Request) -> Json:
        pairs = await _pairs(request)
        return fake.expand(fake.get(intent_id, "payment_intent"), listed(pairs, "expand"))

    # -- refunds -----------------------------------------------------------------------------

    @app.post("/v1/refunds")
    async def create_refund(request: Request) -> Response:
        pairs = await _pairs(request)
        key = request.headers.get("idempotency-key")
        if key is not None and key in fake.saved:
            before, status, body = fake.saved[key]
            if before != _fingerprint(pairs):
                return error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return JSONResponse(body, status, headers={"Idempotent-Replayed": "true"})
        try:
            status, body = 200, fake.expand(fake.refund(pairs), listed(pairs, "expand"))
        except StripeError as exc:
            status, body = exc.status, exc.body
        if key is not None:
            fake.saved[key] = (_fingerprint(pairs), status, body)
        return JSONResponse(body, status)

    @app.get("/v1/refunds")
    async def list_refunds(request: Request) -> Json:
        pairs = await _pairs(request)
        wanted = first(pairs, "payment_intent")
        found = [
            r for r in reversed(fake.of_kind("refund")) if wanted in (None, r["payment_intent"])
        ]
        return fake.page("list", "/v1/refunds", found, pairs)

    # -- balance transactions ----------------------------------------------------------------

    @app.get("/v1/balance_transactions")
    async def list_balance(request: Request) -> Json:
        pairs = await _pairs(request)
        gte = integer(pairs, "created[gte]", 0) or 0
        lt = integer(pairs, "created[lt]", 2**62) or 2**62
        found = [
            t for t in reversed(fake.of_kind("balance_transaction")) if gte <= t["created"] < lt
        ]
        result = fake.page("list", "/v1/balance_transactions", found, pairs)
        return fake.expand(result, listed(pairs, "expand"))

    return app
