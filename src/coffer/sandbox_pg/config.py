"""Settings of one sandbox PG process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ADMIN_TOKEN = "sandbox-admin"  # noqa: S105 - documented test-only token


def admin_token_from_env() -> str:
    return os.environ.get("COFFER_SANDBOX_ADMIN_TOKEN", DEFAULT_ADMIN_TOKEN)


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    data_dir: Path
    admin_token: str = DEFAULT_ADMIN_TOKEN
    #: How long a "timeout after approval" confirm keeps the connection open, in seconds.
    hang_seconds: int = 30
    #: Webhook delivery: tries in all, first backoff in milliseconds (doubled each retry).
    webhook_max_tries: int = 5
    webhook_backoff_ms: int = 1000
    webhook_timeout_seconds: int = 10
    #: How often the webhook sender looks for due deliveries, in milliseconds.
    webhook_poll_ms: int = 50

    @property
    def database_path(self) -> Path:
        return self.data_dir / "sandbox-pg.sqlite3"
