"""A local fake of Toss Payments' core API v1, for the Toss adapter's tests (127.0.0.1 only).

It reproduces the documented requests and replies, written from the docs and not from the
adapter (https://docs.tosspayments.com/reference, .../en/api-guide, .../reference/error-codes,
.../guides/using-api/idempotency-key, .../reference/using-api/webhook-events,
.../guides/apis/settlements):

- Basic auth with ``base64(secret_key + ":")``; anything else is 401 ``UNAUTHORIZED_KEY``.
- ``POST /v1/payments`` creates a ``READY`` Payment whose ``checkout.url`` is the hosted payment
  window (Toss's "API-only" window; the JS SDK's ``requestPayment`` is the other way in, and
  Toss's docs describe both). The window itself is this fake's small HTML form, where a test
  plays the member: ``approve`` redirects to ``successUrl?paymentKey&orderId&amount``, ``reject``
  and ``cancel`` to ``failUrl?code&message&orderId``.
- ``POST /v1/payments/confirm``, ``GET /v1/payments/{paymentKey}``, ``GET /v1/payments/orders/
  {orderId}``, ``POST /v1/payments/{paymentKey}/cancel`` and ``GET /v1/settlements`` answer
  Payment / Settlement objects or ``{code, message}``. ``Idempotency-Key`` on a POST replays
  the first answer for the same (key, secret key, method, path), as Toss documents.
- Webhooks go to ``webhook_url``: ``PAYMENT_STATUS_CHANGED`` ``{eventType, createdAt, data}``
  and, for virtual accounts, ``DEPOSIT_CALLBACK`` ``{createdAt, secret, status, transactionKey,
  orderId}``; neither is signed (Toss signs only its payout events, see
  :meth:`FakeToss.payout_event`). ``createdAt`` is Korea time without an offset.

Knobs for tests: :meth:`fail_next` (any status or body instead of an answer), :meth:`hang_next`
(act, then answer too late), :meth:`garble_next` (act, then answer a broken body),
:meth:`decline_next_confirm`, :meth:`deposit`, :meth:`forget_idempotency_keys`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import queue
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

KST = timezone(timedelta(hours=9))
#: ``method`` of ``POST /v1/payments`` (English enum or the Korean name) → ``Payment.method``.
METHODS = {
    "CARD": "카드",
    "TRANSFER": "계좌이체",
    "VIRTUAL_ACCOUNT": "가상계좌",
    "MOBILE_PHONE": "휴대폰",
    "CULTURE_GIFT_CERTIFICATE": "문화상품권",
    "BOOK_GIFT_CERTIFICATE": "도서문화상품권",
    "GAME_GIFT_CERTIFICATE": "게임문화상품권",
}
METHODS.update({name: name for name in list(METHODS.values())})
FEE_PER_MILLE = 30  # the fake merchant's fee: 3% + 10% VAT on the fee

Answer = tuple[int, Any]


def _now() -> datetime:
    return datetime.now(KST).replace(microsecond=0)


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"code": code, "message": message}


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), *params.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@dataclass
class Fault:
    method: str
    path: str
    kind: Literal["reply", "hang", "garble"]
    status: int = 500
    body: Any = None
    raw: bytes | None = None


@dataclass
class Payment:
    key: str
    order_id: str
    order_name: str
    method: str
    amount: int
    success_url: str
    fail_url: str
    checkout_url: str
    requested_at: datetime
    status: str = "READY"
    balance: int = 0
    approved_at: datetime | None = None
    last_transaction_key: str | None = None
    secret: str | None = None
    bank: str = "20"
    due_date: datetime | None = None
    failure: dict[str, str] | None = None
    cancels: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        done = self.status not in ("READY", "IN_PROGRESS", "ABORTED", "EXPIRED")
        supplied = self.amount * 10 // 11
        return {
            "mId": "tosspayments",
            "lastTransactionKey": self.last_transaction_key,
            "paymentKey": self.key,
            "orderId": self.order_id,
            "orderName": self.order_name,
            "taxExemptionAmount": 0,
            "status": self.status,
            "requestedAt": self.requested_at.isoformat(),
            "approvedAt": self.approved_at.isoformat() if self.approved_at else None,
            "useEscrow": False,
            "cultureExpense": False,
            "card": self._detail("카드"),
            "virtualAccount": self._virtual_account(),
            "transfer": self._detail("계좌이체"),
            "mobilePhone": self._detail("휴대폰"),
            "giftCertificate": self._detail("문화상품권", "도서문화상품권", "게임문화상품권"),
            "cashReceipt": None,
            "cashReceipts": None,
            "discount": None,
            "cancels": list(self.cancels) or None,
            "secret": self.secret,
            "type": "NORMAL",
            "easyPay": None,
            "country": "KR",
            "failure": self.failure,
            "isPartialCancelable": True,
            "receipt": {"url": f"https://dashboard.tosspayments.com/receipt/{self.key}"}
            if done
            else None,
            "checkout": {"url": self.checkout_url},
            "currency": "KRW",
            "totalAmount": self.amount,
            "balanceAmount": self.balance,
            "suppliedAmount": supplied,
            "vat": self.amount - supplied,
            "taxFreeAmount": 0,
            "method": self.method if self.status != "READY" else None,
            "version": "2022-11-16",
            "metadata": None,
        }

    def _detail(self, *methods: str) -> dict[str, Any] | None:
        if self.method not in methods or self.approved_at is None:
            return None
        if self.method == "카드":
            return {
                "amount": self.amount,
                "issuerCode": "61",
                "acquirerCode": "31",
                "number": "43301234****123*",
                "installmentPlanMonths": 0,
                "approveNo": "00000000",
                "useCardPoint": False,
                "cardType": "신용",
                "ownerType": "개인",
                "acquireStatus": "READY",
                "isInterestFree": False,
                "interestPayer": None,
            }
        if self.method == "계좌이체":
            return {"bankCode": self.bank, "settlementStatus": "INCOMPLETED"}
        if self.method == "휴대폰":
            return {"customerMobilePhone": "01012345678", "settlementStatus": "INCOMPLETED"}
        return {"approveNo": "00000000", "settlementStatus": "INCOMPLETED"}

    def _virtual_account(self) -> dict[str, Any] | None:
        if self.method != "가상계좌" or self.due_date is None:
            return None
        return {
            "accountType": "일반",
            "accountNumber": f"X{int(hashlib.sha256(self.key.encode()).hexdigest(), 16) % 10**13}",
            "bankCode": self.bank,
            "customerName": "김토스",
            "dueDate": self.due_date.isoformat(),
            "refundStatus": "NONE",
            "expired": False,
            "settlementStatus": "INCOMPLETED",
            "refundReceiveAccount": None,
        }


class FakeToss:
    """The fake's state and its FastAPI ``app``; knobs are called from the test's thread."""

    def __init__(
        self,
        secret_key: str,
        security_key: str,
        *,
        webhook_url: str | None = None,
        previous_security_key: str | None = None,
        hang_seconds: float = 2.0,
    ) -> None:
        token = base64.b64encode(f"{secret_key}:".encode()).decode()
        self.authorization = f"Basic {token}"
        self.security_key = security_key
        self.previous_security_key = previous_security_key
        self.webhook_url = webhook_url
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.payments: dict[str, Payment] = {}
        self.orders: dict[str, str] = {}
        self.settlements: list[dict[str, Any]] = []
        self.idempotent: dict[tuple[str, str, str, str], Answer] = {}
        self.faults: list[Fault] = []
        self.declines: list[tuple[int, str, str]] = []
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Idempotency-Key
        self._outbox: queue.Queue[tuple[dict[str, str], bytes] | None] = queue.Queue()
        self.app = self._build_app()

    # -- knobs ---------------------------------------------------------------------------------

    def fail_next(
        self, method: str, path: str, status: int, body: Any = None, raw: bytes | None = None
    ) -> None:
        """Answer the next ``method path`` with this instead of acting on it."""
        with self.lock:
            self.faults.append(Fault(method, path, "reply", status, body, raw))

    def hang_next(self, method: str, path: str) -> None:
        """Act on the next ``method path``, then wait ``hang_seconds`` before answering."""
        with self.lock:
            self.faults.append(Fault(method, path, "hang"))

    def garble_next(self, method: str, path: str, raw: bytes = b'{"paymentKey": ') -> None:
        """Act on the next ``method path``, then answer 200 with ``raw``."""
        with self.lock:
            self.faults.append(Fault(method, path, "garble", 200, raw=raw))

    def decline_next_confirm(
        self,
        code: str = "REJECT_CARD_PAYMENT",
        message: str = "한도초과 혹은 잔액부족으로 결제에 실패했습니다.",
        status: int = 403,
    ) -> None:
        with self.lock:
            self.declines.append((status, code, message))

    def forget_idempotency_keys(self) -> None:
        """As if the keys' 15 days had passed."""
        with self.lock:
            self.idempotent.clear()

    def deposit(self, payment_key: str) -> None:
        """The member pays into the virtual account."""
        with self.lock:
            payment = self.payments[payment_key]
            assert payment.status == "WAITING_FOR_DEPOSIT", payment.status
            self._approve(payment)
            self._deposit_callback(payment)

    def payout_event(self, when: datetime | None = None) -> tuple[dict[str, str], bytes]:
        """A signed ``payout.changed`` webhook (Toss signs only payout and seller events)."""
        sent = (when or _now()).astimezone(KST).replace(microsecond=0).isoformat()
        body = self._dump(
            {
                "eventType": "payout.changed",
                "createdAt": sent,
                "version": "2022-11-16",
                "eventId": f"evt_{secrets.token_hex(8)}",
                "entityType": "payout",
                "entityBody": {
                    "id": f"FPA_{secrets.token_hex(6)}",
                    "amount": {"currency": "KRW", "value": 1000},
                    "status": "COMPLETED",
                },
            }
        )
        headers = self._headers(sent) | {"tosspayments-webhook-signature": self.sign(body, sent)}
        return headers, body

    def sign(self, body: bytes, transmission_time: str) -> str:
        """``v1:base64(HMAC-SHA256(security key, body + ":" + time))``, one per key in use."""
        keys = [self.security_key, *filter(None, [self.previous_security_key])]
        message = body + b":" + transmission_time.encode()
        return ",".join(
            "v1:"
            + base64.b64encode(hmac.new(k.encode(), message, hashlib.sha256).digest()).decode()
            for k in keys
        )

    def redeliver(self, headers: dict[str, str], body: bytes) -> None:
        """Send an earlier webhook again, as Toss retries one that got no 200."""
        retried = int(headers.get("tosspayments-webhook-transmission-retried-count", "0")) + 1
        self._outbox.put(
            (headers | {"tosspayments-webhook-transmission-retried-count": str(retried)}, body)
        )

    # -- the app -------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            sender = threading.Thread(target=self._send_webhooks, daemon=True, name="fake-toss")
            sender.start()
            try:
                yield
            finally:
                self._outbox.put(None)
                sender.join(timeout=5)

        app = FastAPI(title="fake Toss Payments", lifespan=lifespan, docs_url=None, redoc_url=None)

        @app.post("/v1/payments")
        async def create(request: Request) -> Response:
            body = await self._json(request)
            return await self._api(request, lambda: self._create(body, str(request.base_url)))

        @app.post("/v1/payments/confirm")
        async def confirm(request: Request) -> Response:
            body = await self._json(request)
            return await self._api(request, lambda: self._confirm(body))

        @app.get("/v1/payments/orders/{order_id}")
        async def by_order(request: Request, order_id: str) -> Response:
            return await self._api(request, lambda: self._lookup(self.orders.get(order_id)))

        @app.get("/v1/payments/{payment_key}/checkout")
        async def window(payment_key: str) -> Response:
            return self._window(payment_key)

        @app.post("/v1/payments/{payment_key}/checkout")
        async def window_submit(request: Request, payment_key: str) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            with self.lock:
                return self._window_submit(payment_key, form)

        @app.get("/v1/payments/{payment_key}")
        async def by_key(request: Request, payment_key: str) -> Response:
            return await self._api(request, lambda: self._lookup(payment_key))

        @app.post("/v1/payments/{payment_key}/cancel")
        async def cancel(request: Request, payment_key: str) -> Response:
            body = await self._json(request)
            return await self._api(request, lambda: self._cancel(payment_key, body))

        @app.get("/v1/settlements")
        async def settlements(request: Request) -> Response:
            return await self._api(request, lambda: self._settlements(dict(request.query_params)))

        return app

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError:
            return None

    async def _api(self, request: Request, act: Callable[[], Answer]) -> Response:
        """Auth, idempotent replay, faults, then ``act()`` under the lock."""
        method, path = request.method, request.url.path
        auth = request.headers.get("authorization", "")
        key = request.headers.get("idempotency-key") if method == "POST" else None
        with self.lock:
            self.requests.append((method, path, key))
            if not hmac.compare_digest(auth.encode(), self.authorization.encode()):
                return self._reply(
                    _error(
                        401,
                        "UNAUTHORIZED_KEY",
                        "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
                    )
                )
            slot = (key, auth, method, path) if key else None
            if slot is not None and slot in self.idempotent:
                return self._reply(self.idempotent[slot])
            fault = next((f for f in self.faults if (f.method, f.path) == (method, path)), None)
            if fault is not None:
                self.faults.remove(fault)
                if fault.kind == "reply":
                    if fault.raw is not None:
                        return Response(fault.raw, fault.status, media_type="application/json")
                    return self._reply((fault.status, fault.body))
            answer: Answer = act()
            if slot is not None:
                self.idempotent[slot] = answer
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(self.hang_seconds)
        if fault is not None and fault.kind == "garble":
            return Response(fault.raw, 200, media_type="application/json")
        return self._reply(answer)

    @staticmethod
    def _reply(answer: Answer) -> Response:
        return JSONResponse(answer[1], answer[0])

    # -- payments ------------------------------------------------------------------------------

    def _create(self, body: Any, base_url: str) -> Answer:
        if not isinstance(body, dict):
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        method, amount = METHODS.get(str(body.get("method"))), body.get("amount")
        order_id, name = body.get("orderId"), body.get("orderName")
        urls = body.get("successUrl"), body.get("failUrl")
        if (
            method is None
            or isinstance(amount, bool)
            or not isinstance(amount, int)
            or amount <= 0
            or not isinstance(order_id, str)
            or not 6 <= len(order_id) <= 64
            or not isinstance(name, str)
            or not all(isinstance(url, str) and url for url in urls)
        ):
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        if order_id in self.orders:
            return _error(
                400, "DUPLICATED_ORDER_ID", "이미 승인 및 취소가 진행된 중복된 주문번호 입니다."
            )
        key = f"tgen_{secrets.token_hex(10)}"
        payment = Payment(
            key=key,
            order_id=order_id,
            order_name=name,
            method=method,
            amount=amount,
            success_url=str(urls[0]),
            fail_url=str(urls[1]),
            checkout_url=f"{base_url.rstrip('/')}/v1/payments/{key}/checkout",
            requested_at=_now(),
            balance=amount,
        )
        self.payments[key], self.orders[order_id] = payment, key
        return 200, payment.as_json()

    def _lookup(self, payment_key: str | None) -> Answer:
        payment = self.payments.get(payment_key or "")
        if payment is None:
            return _error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
        return 200, payment.as_json()

    def _confirm(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        key, order_id, amount = body.get("paymentKey"), body.get("orderId"), body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        payment = self.payments.get(key) if isinstance(key, str) else None
        if payment is None or payment.order_id != order_id:
            return _error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
        if payment.status == "READY":
            return _error(
                404,
                "NOT_FOUND_PAYMENT_SESSION",
                "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
            )
        if payment.status != "IN_PROGRESS":
            return _error(400, "ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.")
        if amount != payment.amount:
            return _error(400, "INVALID_REQUEST", "결제 금액이 일치하지 않습니다.")
        if self.declines:
            status, code, message = self.declines.pop(0)
            payment.status, payment.failure = "ABORTED", {"code": code, "message": message}
            self._status_changed(payment)
            return _error(status, code, message)
        if payment.method == "가상계좌":
            payment.status = "WAITING_FOR_DEPOSIT"
            payment.due_date = _now() + timedelta(days=7)
            payment.secret = f"ps_{secrets.token_urlsafe(18)}"
            payment.last_transaction_key = secrets.token_hex(16).upper()
            self._status_changed(payment)
            self._deposit_callback(payment)
        else:
            self._approve(payment)
        return 200, payment.as_json()

    def _approve(self, payment: Payment) -> None:
        payment.status, payment.approved_at = "DONE", _now()
        payment.last_transaction_key = secrets.token_hex(16).upper()
        self._settle(payment, payment.amount, payment.approved_at, None)
        self._status_changed(payment)

    def _cancel(self, payment_key: str, body: Any) -> Answer:
        payment = self.payments.get(payment_key)
        if payment is None:
            return _error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
        reason = body.get("cancelReason") if isinstance(body, dict) else None
        amount = body.get("cancelAmount", payment.balance) if isinstance(body, dict) else None
        if amount is None:
            amount = payment.balance
        if not isinstance(reason, str) or not reason or len(reason) > 200:
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        if payment.status == "CANCELED":
            return _error(400, "ALREADY_CANCELED_PAYMENT", "이미 취소된 결제 입니다.")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        if payment.status == "WAITING_FOR_DEPOSIT" and amount != payment.balance:
            return _error(
                403,
                "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT",
                "입금 대기중인 결제는 부분 환불이 불가합니다.",
            )
        if payment.status not in ("DONE", "PARTIAL_CANCELED", "WAITING_FOR_DEPOSIT"):
            return _error(403, "NOT_CANCELABLE_PAYMENT", "취소 할 수 없는 결제 입니다.")
        deposited = payment.method == "가상계좌" and payment.status != "WAITING_FOR_DEPOSIT"
        if deposited and not isinstance(body.get("refundReceiveAccount"), dict):
            return _error(400, "INVALID_REFUND_ACCOUNT_INFO", "환불 계좌 정보가 필요합니다.")
        if amount > payment.balance:
            return _error(403, "NOT_CANCELABLE_AMOUNT", "취소 할 수 없는 금액 입니다.")
        at = _now()
        payment.balance -= amount
        payment.last_transaction_key = secrets.token_hex(16).upper()
        payment.cancels.append(
            {
                "cancelAmount": amount,
                "cancelReason": reason,
                "taxFreeAmount": 0,
                "taxExemptionAmount": 0,
                "refundableAmount": payment.balance,
                "easyPayDiscountAmount": 0,
                "canceledAt": at.isoformat(),
                "transactionKey": payment.last_transaction_key,
                "receiptKey": None,
                "cancelStatus": "DONE",
                "cancelRequestId": None,
            }
        )
        was_waiting = payment.status == "WAITING_FOR_DEPOSIT"
        payment.status = "PARTIAL_CANCELED" if payment.balance else "CANCELED"
        if not was_waiting:
            self._settle(payment, -amount, at, payment.cancels[-1])
        self._status_changed(payment)
        if payment.method == "가상계좌":
            self._deposit_callback(payment)
        return 200, payment.as_json()

    # -- the hosted payment window ------------------------------------------------------------

    def _window(self, payment_key: str) -> Response:
        with self.lock:
            payment = self.payments.get(payment_key)
            if payment is None or payment.status != "READY":
                return HTMLResponse("<p>결제 시간이 만료되었습니다.</p>", 400)
            banks = (
                '<select name="bank"><option value="20">우리</option>'
                '<option value="88">신한</option></select>'
                if payment.method in ("가상계좌", "계좌이체")
                else ""
            )
            return HTMLResponse(
                f"<!doctype html><html lang='ko'><meta charset='utf-8'>"
                f"<title>토스페이먼츠</title><h1>{html.escape(payment.order_name)}</h1>"
                f"<p>{payment.amount}원 · {html.escape(payment.method)}</p>"
                f"<form method='post' action='/v1/payments/{payment.key}/checkout'>"
                f"<select name='result'><option value='approve'>결제하기</option>"
                f"<option value='reject'>거절</option><option value='cancel'>취소</option>"
                f"</select>{banks}<button type='submit'>결제하기</button></form></html>"
            )

    def _window_submit(self, payment_key: str, form: dict[str, str]) -> Response:
        payment = self.payments.get(payment_key)
        if payment is None or payment.status != "READY":
            return HTMLResponse("<p>결제 시간이 만료되었습니다.</p>", 400)
        result = form.get("result")
        if result == "approve":
            payment.status, payment.bank = "IN_PROGRESS", form.get("bank", payment.bank)
            params = {
                "paymentType": "NORMAL",
                "orderId": payment.order_id,
                "paymentKey": payment.key,
                "amount": str(payment.amount),
            }
            return RedirectResponse(_with_query(payment.success_url, params), 303)
        if result == "reject":
            code, message = (
                ("REJECT_CARD_COMPANY", "결제 승인이 거절되었습니다.")
                if payment.method == "카드"
                else ("PAY_PROCESS_ABORTED", "결제 진행 중 승인에 실패하여 결제가 중단되었습니다.")
            )
            payment.status, payment.failure = "ABORTED", {"code": code, "message": message}
            self._status_changed(payment)
        else:
            code, message = "PAY_PROCESS_CANCELED", "사용자에 의해 결제가 취소되었습니다."
        params = {"code": code, "message": message, "orderId": payment.order_id}
        return RedirectResponse(_with_query(payment.fail_url, params), 303)

    # -- settlements ---------------------------------------------------------------------------

    def _settle(
        self, payment: Payment, amount: int, at: datetime, cancel: dict[str, Any] | None
    ) -> None:
        supply = abs(amount) * FEE_PER_MILLE // 1000
        vat = supply // 10
        fee = (supply + vat) * (1 if amount > 0 else -1)
        sold = at.astimezone(KST).date()
        self.settlements.append(
            {
                "mId": "tosspayments",
                "paymentKey": payment.key,
                "transactionKey": payment.last_transaction_key,
                "orderId": payment.order_id,
                "currency": "KRW",
                "method": payment.method,
                "amount": amount,
                "interestFee": 0,
                "fees": [{"type": "BASE", "fee": fee}],
                "supplyAmount": supply,
                "vat": vat,
                "payOutAmount": amount - fee,
                "approvedAt": payment.approved_at.isoformat() if payment.approved_at else None,
                "soldDate": sold.isoformat(),
                "paidOutDate": (sold + timedelta(days=2)).isoformat(),
                "cancel": cancel,
            }
        )

    def _settlements(self, query: dict[str, str]) -> Answer:
        try:
            start, end = (
                date.fromisoformat(query["startDate"]),
                date.fromisoformat(query["endDate"]),
            )
            page, size = int(query.get("page", "1")), int(query.get("size", "100"))
        except (KeyError, ValueError):
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        if page < 1 or not 1 <= size <= 10000:
            return _error(400, "INVALID_REQUEST", "잘못된 요청입니다.")
        rows = [
            row for row in self.settlements if start <= date.fromisoformat(row["soldDate"]) <= end
        ]
        return 200, rows[(page - 1) * size : page * size]

    # -- webhooks ------------------------------------------------------------------------------

    @staticmethod
    def _dump(event: dict[str, Any]) -> bytes:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()

    @staticmethod
    def _headers(sent: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "tosspayments-webhook-transmission-time": sent,
            "tosspayments-webhook-transmission-id": f"wh_{secrets.token_hex(12)}",
            "tosspayments-webhook-transmission-retried-count": "0",
        }

    def _enqueue(self, event: dict[str, Any]) -> None:
        if self.webhook_url is not None:
            self._outbox.put((self._headers(_now().isoformat()), self._dump(event)))

    @staticmethod
    def _created_at() -> str:
        return datetime.now(KST).replace(tzinfo=None).isoformat(timespec="microseconds")

    def _status_changed(self, payment: Payment) -> None:
        self._enqueue(
            {
                "eventType": "PAYMENT_STATUS_CHANGED",
                "createdAt": self._created_at(),
                "data": payment.as_json(),
            }
        )

    def _deposit_callback(self, payment: Payment) -> None:
        self._enqueue(
            {
                "createdAt": self._created_at(),
                "secret": payment.secret,
                "status": payment.status,
                "transactionKey": payment.last_transaction_key,
                "orderId": payment.order_id,
            }
        )

    def deliver(self, headers: dict[str, str], body: bytes) -> None:
        """Send one webhook (e.g. :meth:`payout_event`) to ``webhook_url``."""
        self._outbox.put((headers, body))

    def _send_webhooks(self) -> None:
        while (item := self._outbox.get()) is not None:
            headers, body = item
            if self.webhook_url is None:
                continue
            try:
                httpx.post(self.webhook_url, content=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                continue
