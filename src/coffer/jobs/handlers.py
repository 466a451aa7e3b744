"""The handlers a production worker runs, by job kind (`coffer worker` and `coffer up`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.engine import Connection

from coffer.admins import service as admins
from coffer.app import resolve_wallet
from coffer.config import Settings
from coffer.db import idempotency
from coffer.db.outbox import WEBHOOK_JOB
from coffer.entitlements import usage
from coffer.grades import service as grades
from coffer.jobs.context import Handler, JobContext
from coffer.jobs.payments import PaymentJobs
from coffer.jobs.schedule import (
    AUDIT_JOB,
    CLOSE_STALE_SESSIONS_JOB,
    EXPIRE_HOLDS_JOB,
    EXPIRE_LOTS_JOB,
    GRADES_JOB,
    JANITOR_JOB,
    PRUNE_HEALTH_JOB,
    PURGE_IDEMPOTENCY_JOB,
    PURGE_SESSIONS_JOB,
)
from coffer.jobs.webhooks import WebhookDeliverer
from coffer.ledger import invariants, service
from coffer.payments.directory import GatewayProvider
from coffer.payments.refunds import REFUND_JOB
from coffer.tenancy import cash_sessions

log = logging.getLogger(__name__)

#: Rows handled per ledger call; a job keeps calling while a call comes back full.
EXPIRY_BATCH = 500
#: Upper bound on calls per job, so one job cannot run unbounded; the next firing continues.
EXPIRY_MAX_ROUNDS = 20


class AuditFailed(Exception):
    """The invariant audit found violations (listed in the message)."""


def default_handlers(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    gateways: GatewayProvider | None = None,
) -> dict[str, Handler]:
    payments = PaymentJobs(settings, gateways)
    return {
        JANITOR_JOB: payments.janitor,
        REFUND_JOB: payments.refund,
        PRUNE_HEALTH_JOB: payments.prune_health,
        WEBHOOK_JOB: WebhookDeliverer(
            timeout_seconds=settings.webhook_timeout_seconds, client=http_client
        ),
        EXPIRE_HOLDS_JOB: expire_holds,
        EXPIRE_LOTS_JOB: expire_lots,
        AUDIT_JOB: audit,
        PURGE_IDEMPOTENCY_JOB: purge_idempotency_keys,
        PURGE_SESSIONS_JOB: purge_sessions,
        CLOSE_STALE_SESSIONS_JOB: close_stale_sessions,
        GRADES_JOB: recompute_grades,
    }


def expire_holds(ctx: JobContext, payload: dict[str, Any]) -> None:
    total = _drain(
        lambda: service.expire_holds(ctx.db, ctx.clock, resolve_wallet, limit=EXPIRY_BATCH)
    )
    log.info("expired %d holds", total)


def expire_lots(ctx: JobContext, payload: dict[str, Any]) -> None:
    total = _drain(
        lambda: service.expire_lots(ctx.db, ctx.clock, resolve_wallet, limit=EXPIRY_BATCH)
    )
    log.info("swept expired cash of %d members", total)


def audit(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Run every ledger invariant; violations are logged and fail the job (visible to admins)."""
    violations = ctx.db.read(invariants.check_all)
    if not violations:
        log.info("ledger audit: all invariants hold")
        return
    for violation in violations:
        log.error("ledger invariant violated: %s: %s", violation.rule, violation.detail)
    listed = "\n".join(f"- {v.rule}: {v.detail}" for v in violations)
    raise AuditFailed(f"{len(violations)} ledger invariant violation(s):\n{listed}")


def purge_idempotency_keys(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Forget idempotency keys older than their retention (24 h)."""
    before = ctx.clock.now() - idempotency.RETENTION
    purged = ctx.db.write(lambda conn: idempotency.purge(conn, before))
    log.info("purged %d idempotency keys", purged)


def purge_sessions(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Delete the rows of admin and cash-web sessions that have ended."""
    now = ctx.clock.now()

    def purge(conn: Connection) -> tuple[int, int]:
        return admins.purge_ended_sessions(conn, now), cash_sessions.purge_ended(conn, now)

    admin_count, cash_count = ctx.db.write(purge)
    log.info("purged %d admin and %d cash-web sessions", admin_count, cash_count)


def close_stale_sessions(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Close usage sessions without a report for ``usage.STALE_AFTER``, at their last report."""
    total = _drain(lambda: usage.close_stale(ctx.db, ctx.clock, limit=EXPIRY_BATCH))
    log.info("closed %d stale usage sessions", total)


def recompute_grades(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Regrade the members of every service with grade rules (batches; idempotent)."""
    results = grades.recompute_all(ctx.db, ctx.clock)
    for service_id, result in results.items():
        log.info(
            "grades of service %s: %d changed, %d unchanged, %d overridden",
            service_id, result.changed, result.unchanged, result.skipped_overridden,
        )  # fmt: skip


def _drain(run_batch: Callable[[], int]) -> int:
    total = 0
    for _ in range(EXPIRY_MAX_ROUNDS):
        count = run_batch()
        total += count
        if count < EXPIRY_BATCH:
            break
    return total
