"""``coffer serve``, ``coffer worker`` and ``coffer up`` (the embedded all-in-one)."""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

import typer
import uvicorn

from coffer.app import Runtime
from coffer.cli.cash import member_link
from coffer.cli.context import runtime
from coffer.cli.demo import ensure_demo
from coffer.cli.demo_admins import ensure_demo_admins
from coffer.cli.demo_catalog import ensure_demo_catalog
from coffer.cli.demo_pg import connect_demo_service, start_sandbox_pg
from coffer.cli.demo_promotions import DISCOUNT_CODE, WELCOME_CODE, ensure_demo_promotions
from coffer.jobs.handlers import default_handlers
from coffer.jobs.worker import Worker
from coffer.migrations import upgrade
from coffer.server import create_server


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default COFFER_HOST)."),
    port: int | None = typer.Option(None, help="Port (default COFFER_PORT)."),
) -> None:
    """Run the HTTP server: the open API, health and metrics."""
    rt = runtime()
    uvicorn.run(
        create_server(rt),
        host=host or rt.settings.host,
        port=port or rt.settings.port,
        log_level="info",
    )


def worker(
    scheduler: bool = typer.Option(True, help="Also fire scheduled jobs (safe on many workers)."),
    once: bool = typer.Option(False, help="Run one batch and exit."),
) -> None:
    """Run the job queue: webhooks, expiry, the invariant audit."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rt = runtime()
    job_worker = _worker(rt, scheduler)
    if once:
        typer.echo(f"ran {job_worker.run_once()} job(s)")
        return
    job_worker.run_forever(threading.Event())


def up(
    host: str | None = typer.Option(None, help="Address to bind (default COFFER_HOST)."),
    port: int | None = typer.Option(None, help="Port (default COFFER_PORT)."),
    sandbox_pg: bool = typer.Option(True, help="Run the sandbox PG and connect the demo to it."),
) -> None:
    """All in one: migrate, seed a demo service, run the sandbox PG, a worker and the server."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rt = runtime()
    rt.settings = rt.settings.with_local_secret_key()
    upgrade(rt.db.engine)
    demo = ensure_demo(rt)
    ensure_demo_catalog(rt, UUID(demo["service_id"]))
    ensure_demo_promotions(rt, UUID(demo["service_id"]))
    host = host or rt.settings.host
    port = port or rt.settings.port
    base = f"http://{host}:{port}"
    sandbox_process, sandbox_url = None, None
    if sandbox_pg:
        sandbox_process, sandbox_url = start_sandbox_pg(rt, host)
        connect_demo_service(rt, demo, sandbox_url, base)
    stop = threading.Event()
    thread = threading.Thread(
        target=_worker(rt, scheduler=True).run_forever, args=(stop,), daemon=True, name="worker"
    )
    thread.start()
    typer.echo(_banner(rt, base, demo, ensure_demo_admins(rt), sandbox_url))
    try:
        uvicorn.run(create_server(rt), host=host, port=port, log_level="info")
    finally:
        stop.set()
        thread.join(timeout=10)
        if sandbox_process is not None:
            sandbox_process.terminate()
            sandbox_process.wait(timeout=10)


def _banner(
    rt: Runtime,
    base: str,
    demo: dict[str, Any],
    admins: list[tuple[str, str, str]],
    sandbox_url: str | None,
) -> str:
    service_id = demo["service_id"]
    logins = [
        f"                  {email} / {password}  ({role})" for email, role, password in admins
    ]
    return "\n".join(
        [
            "",
            f"Coffer is running at {base}",
            f"  open API docs:  {base}/docs",
            f"  database:       {rt.db.engine.url.render_as_string(hide_password=True)}",
            f"  demo service:   {service_id} ({demo['name']}, {demo['currency']})",
            f"  demo API key:   {demo['api_key']}",
            f"  try:            curl -H 'Authorization: Bearer {demo['api_key']}' "
            f"{base}/api/v1/members/alice/balance",
            f"  admin web:      {base}/admin  (demo logins, demo only:)",
            *logins,
            f"  cash web:       {member_link(rt, UUID(service_id), 'alice', base)}",
            f"  coupons:        {WELCOME_CODE} (1,000 bonus cash), {DISCOUNT_CODE} (10% off at "
            "checkout)",
            "                  (member alice; the link is valid 5 minutes — a fresh one: "
            f"coffer cash link --service {service_id} --member alice)",
            *(
                [
                    f"  sandbox PG:     {sandbox_url}  (test card 4242 4242 4242 4242, "
                    "any future expiry; docs/sandbox-pg.md)"
                ]
                if sandbox_url
                else []
            ),
            "",
        ]
    )


def _worker(rt: Runtime, scheduler: bool) -> Worker:
    return Worker(
        rt.db,
        rt.clock,
        default_handlers(rt.settings),
        poll_seconds=rt.settings.worker_poll_seconds,
        scheduler=scheduler,
    )


def register(root: typer.Typer) -> None:
    root.command()(serve)
    root.command()(worker)
    root.command()(up)
