"""Payment jobs: the janitor (every minute), refund cancels, and pruning the PG health log."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from coffer.app import gateway_directory, resolve_wallet
from coffer.config import Settings
from coffer.jobs.context import JobContext
from coffer.payments import health, janitor
from coffer.payments.charging import PaymentsContext, process_refund
from coffer.payments.directory import GatewayProvider

log = logging.getLogger(__name__)


class PaymentJobs:
    """Handlers sharing one gateway directory, built on the first job that needs a PG."""

    def __init__(self, settings: Settings, gateways: GatewayProvider | None = None) -> None:
        self._settings = settings
        self._gateways = gateways

    def _context(self, job: JobContext) -> PaymentsContext:
        if self._gateways is None:
            self._gateways = gateway_directory(self._settings, job.db)
        return PaymentsContext(job.db, job.clock, self._gateways, resolve_wallet)

    def janitor(self, job: JobContext, payload: dict[str, Any]) -> None:
        report = janitor.run(self._context(job))
        log.info("janitor: %s", report)

    def refund(self, job: JobContext, payload: dict[str, Any]) -> None:
        refund = process_refund(self._context(job), UUID(str(payload["refund_id"])))
        log.info("refund %s: %s", refund.id, refund.status)

    def prune_health(self, job: JobContext, payload: dict[str, Any]) -> None:
        pruned = job.db.write(lambda conn: health.prune_calls(conn, now=job.clock.now()))
        log.info("pruned %d PG health rows", pruned)
