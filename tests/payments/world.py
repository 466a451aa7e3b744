"""A live payments world: a sandbox PG and a Coffer server, both over real HTTP.

The sandbox PG runs from its own app on its own port and SQLite file; Coffer runs
``create_server`` on the test's database (SQLite or PostgreSQL) with a clock the tests can move
forward. Each world gets its own sandbox merchant, whose webhooks go to the Coffer server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit
from uuid import UUID

import httpx
import pytest

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.ledger import queries
from coffer.payments import charging, janitor
from coffer.payments.charges import Charge, charge_by_id
from coffer.payments.onboarding import connect_pg
from coffer.payments.refunds import Refund, charge_refunds
from coffer.payments.secrets import SecretBox, new_key
from coffer.sandbox_pg.app import create_app
from coffer.sandbox_pg.config import SandboxSettings
from coffer.tenancy import service as tenancy
from tests.browser.live import ShiftedClock
from tests.browser.live import serve as serve_coffer
from tests.gateways.live_support import read_forms
from tests.gateways.live_support import serve as serve_asgi

ADMIN = {"X-Sandbox-Admin-Token": "sandbox-admin"}
RETURN_URL = "http://shop.test/charged?from=coffer"
CARD_OK = {"card_number": "4242 4242 4242 4242", "expiry": "12/39"}
CARD_DECLINED = {"card_number": "4000 0000 0000 0002", "expiry": "12/39"}
CARD_HANGS = {"card_number": "4000 0000 0000 0119", "expiry": "12/39"}
#: The form steps that approve each method on the sandbox's checkout page.
APPROVE: dict[str, list[dict[str, str]]] = {
    "card": [CARD_OK],
    "transfer": [{"bank_code": "04"}],
    "virtual_account": [{"bank_code": "88"}],
    "mobile": [{"phone": "01012345678"}, {"otp": "000000"}],
    "gift": [{"pin": "1111-2222-3333-4444"}],
}


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("sandbox-pg")
    settings = SandboxSettings(data_dir=data_dir, hang_seconds=3, webhook_backoff_ms=100)
    with serve_asgi(create_app(settings)) as url:
        yield url


@dataclass
class World:
    runtime: Runtime
    clock: ShiftedClock
    coffer: str
    sandbox: str
    service_id: UUID
    api_key: str
    contract_id: UUID
    merchant: dict[str, Any]

    @property
    def db(self) -> Database:
        return self.runtime.db

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.coffer, headers={"Authorization": f"Bearer {self.api_key}"}
        )

    def member(self, external_id: str | None = None) -> str:
        name = external_id or f"m-{uuid.uuid4().hex[:10]}"

        def create(conn: Any) -> None:
            service = tenancy.get_service(conn, self.service_id)
            app.create_member(conn, service, name, clock=self.clock)

        self.db.write(create)
        return name

    def start_charge(
        self, member: str, amount: int = 10000, method: str = "card"
    ) -> dict[str, Any]:
        with self.api() as api:
            response = api.post(
                "/api/v1/charges",
                json={"member": member, "amount": amount, "method": method,
                      "return_url": RETURN_URL},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def checkout(self, checkout_url: str, steps: list[dict[str, str]]) -> httpx.Response:
        """Act as the browser up to the PG's redirect back to Coffer (not followed)."""
        with httpx.Client(headers={"Accept": "text/html"}, timeout=30) as browser:
            to_pg = browser.get(checkout_url)
            assert to_pg.status_code == 303, to_pg.text
            url = to_pg.headers["location"]
            page = browser.get(url)
            for filled in steps:
                assert page.status_code == 200, page.text
                (form,) = read_forms(page.text)
                page = browser.post(urljoin(url, form.action), data=form.fields | filled)
            assert page.status_code == 303, page.text
            return page

    def follow(self, redirect: httpx.Response) -> dict[str, str]:
        """Follow the PG's redirect into Coffer; return the query Coffer sends the shop."""
        with httpx.Client(timeout=30) as browser:
            back = browser.get(redirect.headers["location"])
        assert back.status_code == 303, back.text
        location = urlsplit(back.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL.split("?")[0]
        return dict(parse_qsl(location.query))

    def pay(self, member: str, method: str = "card", amount: int = 10000) -> dict[str, str]:
        started = self.start_charge(member, amount, method)
        return self.follow(self.checkout(started["checkout_url"], APPROVE[method]))

    def charge(self, charge_id: str | UUID) -> Charge:
        return self.db.read(lambda conn: charge_by_id(conn, UUID(str(charge_id))))

    def refunds(self, charge_id: str | UUID) -> list[Refund]:
        return self.db.read(lambda conn: charge_refunds(conn, UUID(str(charge_id))))

    def balance(self, member: str) -> int:
        def read(conn: Any) -> int:
            found = tenancy.get_member(conn, self.service_id, member)
            balance = queries.balance(conn, found.id, self.clock.now())
            return balance.paid + balance.bonus

        return self.db.read(read)

    def janitor(self) -> janitor.JanitorReport:
        return janitor.run(self.runtime.payments())

    def process_refunds(self, charge_id: str | UUID) -> None:
        for refund in self.refunds(charge_id):
            charging.process_refund(self.runtime.payments(), refund.id)

    def faults(self, **faults: Any) -> None:
        response = httpx.put(f"{self.sandbox}/admin/faults", json=faults, headers=ADMIN)
        assert response.status_code == 200, response.text

    def clear_faults(self) -> None:
        httpx.delete(f"{self.sandbox}/admin/faults", headers=ADMIN).raise_for_status()

    def deposit(self, payment_key: str) -> None:
        response = httpx.post(
            f"{self.sandbox}/admin/virtual-accounts/{payment_key}/deposit", headers=ADMIN
        )
        assert response.status_code == 200, response.text


def build_world(db: Database, sandbox_url: str, tmp_path: Path) -> Iterator[World]:
    key = new_key()
    settings = Settings.from_env(
        {"COFFER_DATA_DIR": str(tmp_path), "COFFER_SECRET_KEY": key,
         "COFFER_PG_TIMEOUT_SECONDS": "2"}
    )  # fmt: skip
    clock = ShiftedClock()
    runtime = Runtime(settings, db, clock)
    merchant = httpx.post(
        f"{sandbox_url}/admin/merchants", json={"name": "coffer test"}, headers=ADMIN
    ).json()

    def setup(conn: Any) -> tuple[UUID, str, UUID]:
        service, api_key = app.create_service(
            conn, name="Payments test", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        contract = connect_pg(
            conn, service.id, pg="sandbox", name="Sandbox", base_url=sandbox_url,
            merchant_id=merchant["merchant_id"], client_key=merchant["client_key"],
            secret_key=merchant["secret_key"], webhook_secret=merchant["webhook_secret"],
            box=SecretBox(key), now=clock.now(),
        )  # fmt: skip
        return service.id, api_key.plaintext, contract.id

    service_id, api_key, contract_id = db.write(setup)
    with serve_coffer(runtime) as coffer:
        hook = httpx.put(
            f"{sandbox_url}/admin/merchants/{merchant['merchant_id']}/webhook",
            json={"webhook_url": f"{coffer}/pg/webhooks/{contract_id}"},
            headers=ADMIN,
        )
        assert hook.status_code == 200, hook.text
        yield World(runtime, clock, coffer, sandbox_url, service_id, api_key, contract_id, merchant)
        httpx.delete(f"{sandbox_url}/admin/faults", headers=ADMIN)
