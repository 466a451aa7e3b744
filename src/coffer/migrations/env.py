"""Alembic environment: runs against the connection handed in by ``coffer.db.migrate``."""

from __future__ import annotations

from alembic import context

from coffer.migrations.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic path is supported
    raise RuntimeError("run migrations through `coffer db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
