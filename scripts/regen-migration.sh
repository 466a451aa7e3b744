#!/usr/bin/env bash
# Regenerate the single initial migration from the current tables (pre-release only).
#
# Deletes src/coffer/migrations/versions/*.py, autogenerates "initial schema" against a fresh
# throwaway PostgreSQL cluster (never an existing COFFER_TEST_DATABASE_URL: it must be empty),
# then lints and formats the result with ruff.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

versions=src/coffer/migrations/versions
mkdir -p "$versions"
rm -f "$versions"/*.py

env -u COFFER_TEST_DATABASE_URL scripts/with-postgres.sh uv run --frozen python -c '
import os

from coffer.db.engine import make_engine
from coffer.migrations import revision

engine = make_engine(os.environ["COFFER_TEST_DATABASE_URL"])
try:
    revision(engine, "initial schema")
finally:
    engine.dispose()
'

# The template leaves trailing blanks ("Revises: "); format first so that long lines get split.
sed -i 's/[[:space:]]*$//' "$versions"/*.py
uv run --frozen ruff format --quiet "$versions"
uv run --frozen ruff check --fix --quiet "$versions"
uv run --frozen ruff format --quiet "$versions"
ls "$versions"/*.py
