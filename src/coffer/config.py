"""Settings, read from ``COFFER_*`` environment variables."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, replace
from pathlib import Path

from coffer.db.engine import sqlite_url

#: Where the embedded default keeps its generated secret key, inside the data directory.
SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret


class SecretKeyMissing(RuntimeError):
    """Secrets must be sealed or opened, but no secret key is configured."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    host: str
    port: int
    worker_poll_seconds: float
    webhook_timeout_seconds: float
    #: The key that seals PG secrets at rest (``COFFER_SECRET_KEY``; see
    #: :mod:`coffer.payments.secrets`). Read it through :meth:`resolve_secret_key`.
    secret_key: str | None = None
    #: How long Coffer waits for a PG's answer before treating it as unknown.
    pg_timeout_seconds: float = 10.0
    #: Where ``coffer up`` runs the sandbox PG.
    sandbox_pg_port: int = 8100

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
            secret_key=env.get("COFFER_SECRET_KEY", "").strip() or None,
            pg_timeout_seconds=float(env.get("COFFER_PG_TIMEOUT_SECONDS", "10")),
            sandbox_pg_port=int(env.get("COFFER_SANDBOX_PG_PORT", "8100")),
        )

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def with_local_secret_key(self) -> Settings:
        """These settings, keeping a generated key in the data directory if none is set.

        For ``coffer up`` (a demo and development command) on any database; servers in
        production set ``COFFER_SECRET_KEY``.
        """
        if self.secret_key:
            return self
        return replace(self, secret_key=_load_or_create_key(self.data_dir / SECRET_KEY_FILE))

    def resolve_secret_key(self) -> str:
        """``COFFER_SECRET_KEY``; without it, on SQLite, ``<data_dir>/secret.key`` (made if absent).

        The embedded default (``coffer up``) keeps its key beside its database file, created once
        with mode 0600. Anywhere else (PostgreSQL) the key must be configured: this raises
        :class:`SecretKeyMissing`, and only code that needs secrets calls it, so nothing else is
        refused for want of a key.
        """
        if self.secret_key:
            return self.secret_key
        if not self.database_url.startswith("sqlite"):
            raise SecretKeyMissing(
                "COFFER_SECRET_KEY is not set. PG contract secrets are encrypted with it: "
                "generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'` and keep it safe (losing it loses the "
                "stored PG secrets)."
            )
        return _load_or_create_key(self.data_dir / SECRET_KEY_FILE)


def _load_or_create_key(path: Path) -> str:
    """The key in ``path``, or a new Fernet key written there (0600) if there is none yet.

    The new key is written to a private temporary file first and linked into place, so that two
    processes starting together agree on one key and neither ever reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(base64.urlsafe_b64encode(os.urandom(32)).decode("ascii") + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    stored = path.read_text(encoding="ascii").strip()
    if not stored:
        raise SecretKeyMissing(f"{path} is empty: restore the key or set COFFER_SECRET_KEY.")
    return stored
