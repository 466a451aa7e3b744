"""A real ``coffer serve`` (and ``coffer worker``) killed at the charge's named crash points.

``COFFER_CRASH_AT`` makes the process SIGKILL itself at a point of the charge flow
(:mod:`coffer.kernel.crash`): after the PG approved a payment and before Coffer committed it,
after the commit and before the response, after the PG cancelled a refund and before Coffer
recorded it. The member's browser sees the connection drop; the server is restarted without the
crash point; then the janitor or the retried request must finish the charge exactly once.

The sandbox PG runs in a thread (``sandbox_url``); its merchant has no webhook URL, so no webhook
can finish the charge behind the test's back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from coffer import app
from coffer.app import Runtime
from coffer.config import Settings
from coffer.db.transaction import Database
from coffer.jobs.handlers import default_handlers
from coffer.jobs.queue import DEFAULT_LEASE_SECONDS
from coffer.jobs.worker import Worker
from coffer.payments.charges import timeline
from coffer.payments.gateways.outcomes import Approved, PaymentCancelled
from coffer.payments.gateways.sandbox import SandboxGateway
from coffer.payments.onboarding import connect_pg
from coffer.payments.secrets import SecretBox, new_key
from coffer.payments.tables import charge_credits
from tests.browser.live import ShiftedClock
from tests.ledger_helpers import assert_invariants
from tests.payments.world import ADMIN, APPROVE, RETURN_URL, World, sandbox_url

__all__ = ["sandbox_url"]

COFFER = str(Path(sys.executable).parent / "coffer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """``coffer serve`` / ``coffer worker`` subprocesses on the test's database."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._running: list[subprocess.Popen[bytes]] = []
        self._logs: dict[int, Path] = {}

    def _spawn(self, args: list[str], crash_at: str | None) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in self.env.items() if k != "COFFER_CRASH_AT"}
        if crash_at:
            env["COFFER_CRASH_AT"] = crash_at
        log = self.logs / f"{len(self._running) + 1}-{args[0]}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [COFFER, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self._running.append(process)
        self._logs[process.pid] = log
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self._logs[process.pid].read_text()

    def serve(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        """Start the server (always on the same port: the PG's redirects name it) and wait."""
        process = self._spawn(["serve", "--port", str(self.port)], crash_at)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, self.output(process)
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.output(process)
            time.sleep(0.1)

    def worker(self, crash_at: str) -> subprocess.Popen[bytes]:
        return self._spawn(["worker", "--no-scheduler"], crash_at)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover - reported by the caller
                process.kill()
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self._running:
            self.stop(process)

    def died_of_its_crash_point(self, process: subprocess.Popen[bytes]) -> None:
        """The process SIGKILLed itself (waits for its exit, within a deadline)."""
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("the process never reached its crash point") from None
        assert code == -signal.SIGKILL, self.output(process)


@pytest.fixture
def killable(
    db: Database, database_url: str, sandbox_url: str, tmp_path: Path
) -> Iterator[tuple[World, Processes]]:
    """A service connected to a fresh sandbox merchant, and the processes to run it with."""
    key = new_key()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "COFFER_DATA_DIR": str(data_dir),
        "COFFER_DATABASE_URL": database_url,
        "COFFER_SECRET_KEY": key,
        "COFFER_PG_TIMEOUT_SECONDS": "5",
        "COFFER_WORKER_POLL_SECONDS": "0.2",
    }
    settings = Settings.from_env(env)
    clock = ShiftedClock()
    merchant = httpx.post(
        f"{sandbox_url}/admin/merchants", json={"name": "killed coffer"}, headers=ADMIN
    ).json()
    assert merchant["webhook_url"] is None

    def setup(conn: Any) -> tuple[UUID, str, UUID]:
        service, api_key = app.create_service(
            conn, name="Killed", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
        contract = connect_pg(
            conn, service.id, pg="sandbox", name="Sandbox", base_url=sandbox_url,
            merchant_id=merchant["merchant_id"], client_key=merchant["client_key"],
            secret_key=merchant["secret_key"], webhook_secret=merchant["webhook_secret"],
            box=SecretBox(key), now=clock.now(),
        )  # fmt: skip
        return service.id, api_key.plaintext, contract.id

    service_id, api_key, contract_id = db.write(setup)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(env, logs)
    # The test's own runtime (its clock can be moved) for the janitor and the restarted worker.
    runtime = Runtime(settings, db, clock)
    world = World(
        runtime, clock, processes.base, sandbox_url, service_id, api_key, contract_id, merchant
    )
    try:
        yield world, processes
    finally:
        processes.stop_all()


def authorise(world: World, member: str, method: str, amount: int) -> tuple[str, str]:
    """(charge id, the success URL the PG sends the member's browser back to)."""
    started = world.start_charge(member, amount, method)
    redirect = world.checkout(started["checkout_url"], APPROVE[method])
    return started["id"], redirect.headers["location"]


def browser_return(url: str) -> httpx.Response:
    with httpx.Client(timeout=30) as browser:
        return browser.get(url)


def return_dies(url: str) -> None:
    """The member's browser comes back to a server that dies on the way."""
    with pytest.raises(httpx.TransportError):
        browser_return(url)


def back_at_the_shop(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL.split("?")[0]
    return dict(parse_qsl(location.query))


def pg(world: World) -> SandboxGateway:
    m = world.merchant
    return SandboxGateway(world.sandbox, m["client_key"], m["secret_key"], m["webhook_secret"])


def credits(world: World, charge_id: str) -> int:
    return int(
        world.db.read(
            lambda c: c.execute(
                select(func.count())
                .select_from(charge_credits)
                .where(charge_credits.c.charge_id == UUID(charge_id))
            ).scalar_one()
        )
    )


def test_killed_after_the_pg_approved_before_the_commit(
    killable: tuple[World, Processes],
) -> None:
    world, processes = killable
    member = world.member()
    crash = "charge.after_pg_confirm"
    paid: dict[str, str] = {}  # charge id -> the browser's success URL
    for method, amount in (("card", 10000), ("transfer", 20000)):
        server = processes.serve(crash_at=crash)
        charge_id, success_url = authorise(world, member, method, amount)
        return_dies(success_url)
        processes.died_of_its_crash_point(server)
        charge = world.charge(charge_id)
        # The PG approved and holds the money; Coffer committed nothing of it.
        assert charge.status == "in_progress"
        assert charge.payment_key is not None
        assert (charge.journal_id, credits(world, charge_id)) == (None, 0)
        with pg(world) as gateway:
            assert isinstance(gateway.query(payment_key=charge.payment_key), Approved)
        paid[charge_id] = success_url
    assert world.balance(member) == 0

    processes.serve()
    by_janitor, by_retry = paid
    # The member's browser retries the second one: confirmed again, the PG says it is done.
    assert back_at_the_shop(browser_return(paid[by_retry]))["status"] == "approved"
    assert world.charge(by_retry).status == "approved"
    # The first one is the janitor's, once the confirm grace has passed (in this test's runtime,
    # whose clock moves; the server keeps the real time).
    with world.clock.shifted(timedelta(minutes=1)):
        assert world.janitor().charges_visited == 0  # a confirm may still be in flight
    with world.clock.shifted(timedelta(minutes=3)):
        report = world.janitor()
    assert (report.charges_visited, report.charges_settled) == (1, 1)
    for charge_id in paid:
        charge = world.charge(charge_id)
        assert charge.status == "approved"
        assert credits(world, charge_id) == 1
    events = world.db.read(lambda c: timeline(c, UUID(by_janitor)))
    assert [(e.source, e.after) for e in events][-1] == ("janitor", "approved")
    assert world.balance(member) == 30000
    with world.api() as api:  # the restarted server tells the same story
        assert api.get(f"/api/v1/charges/{by_janitor}").json()["status"] == "approved"
    # The browser retries the janitor's charge too, late: nothing more is credited.
    assert back_at_the_shop(browser_return(paid[by_janitor]))["status"] == "approved"
    assert world.balance(member) == 30000
    assert_invariants(world.db)


def test_killed_after_the_commit_then_the_refund_killed_after_the_pg_cancelled(
    killable: tuple[World, Processes],
) -> None:
    world, processes = killable
    member = world.member()
    server = processes.serve(crash_at="charge.after_commit")
    charge_id, success_url = authorise(world, member, "mobile", 10000)
    return_dies(success_url)
    processes.died_of_its_crash_point(server)
    charge = world.charge(charge_id)
    assert charge.status == "approved"
    assert credits(world, charge_id) == 1
    assert world.balance(member) == 10000

    processes.serve()
    # The browser retries the very same request: no second confirm effect, on to the shop.
    back = back_at_the_shop(browser_return(success_url))
    assert (back["status"], back["charge_id"]) == ("approved", charge_id)
    assert credits(world, charge_id) == 1
    assert world.balance(member) == 10000

    # A refund whose worker dies after the PG cancelled, before Coffer recorded it.
    with world.api() as api:
        asked = api.post(
            f"/api/v1/charges/{charge_id}/refunds",
            json={"amount": 4000, "reason": "changed my mind"},
            headers={"Idempotency-Key": "refund-1"},
        )
    assert asked.status_code == 201, asked.text
    assert world.balance(member) == 6000  # the cash left with the request
    processes.died_of_its_crash_point(processes.worker(crash_at="refund.after_pg_cancel"))
    (refund,) = world.refunds(charge_id)
    assert (refund.status, refund.attempts) == ("sending", 1)
    order_id = world.charge(charge_id).order_id
    with pg(world) as gateway:
        cancelled = gateway.query(order_id=order_id)
    assert isinstance(cancelled, PaymentCancelled)
    assert len(cancelled.cancels) == 1
    assert world.charge(charge_id).refunded == 0
    with world.clock.shifted(timedelta(minutes=1)):  # the dead worker's cancel might still be
        assert world.janitor().refunds_visited == 0  # in flight: nobody else sends one yet

    # A worker takes the job over once the dead one's lease has run out.
    worker = Worker(world.db, world.clock, default_handlers(world.runtime.settings))
    with world.clock.shifted(timedelta(seconds=DEFAULT_LEASE_SECONDS + 60)):
        assert worker.run_once() >= 1
    (refund,) = world.refunds(charge_id)
    assert (refund.status, refund.attempts) == ("done", 1)  # settled from the PG's cancel list
    assert refund.transaction_key == cancelled.cancels[0].transaction_key
    with pg(world) as gateway:
        after = gateway.query(order_id=order_id)
    assert isinstance(after, PaymentCancelled)
    assert [c.amount for c in after.cancels] == [4000]  # the PG was not asked twice
    charge = world.charge(charge_id)
    assert (charge.status, charge.refunded, charge.attention) == ("partially_cancelled", 4000, None)
    assert world.balance(member) == 6000  # the cash left once
    assert_invariants(world.db)
