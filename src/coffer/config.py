"""Settings, read from ``COFFER_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from coffer.db.engine import sqlite_url


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    host: str
    port: int
    worker_poll_seconds: float
    webhook_timeout_seconds: float

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("COFFER_DATA_DIR", "data")).resolve()
        database_url = env.get("COFFER_DATABASE_URL") or sqlite_url(data_dir / "coffer.sqlite3")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            host=env.get("COFFER_HOST", "127.0.0.1"),
            port=int(env.get("COFFER_PORT", "8000")),
            worker_poll_seconds=float(env.get("COFFER_WORKER_POLL_SECONDS", "1.0")),
            webhook_timeout_seconds=float(env.get("COFFER_WEBHOOK_TIMEOUT_SECONDS", "10")),
        )

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
