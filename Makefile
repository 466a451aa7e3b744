# Coffer developer and CI entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

# uv from PATH, or the copy `make setup` installs with pip (pyenv shims may not see it yet).
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo python3 -m uv)
# Never rewrite uv.lock as a side effect of running something: it is committed.
RUN := $(UV) run --frozen

.PHONY: setup run test lint check pytest bench browser screenshots

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: setup
	$(RUN) coffer up

# Lint, type-check and the whole test suite on SQLite and on a throwaway PostgreSQL server
# (scripts/with-postgres.sh; it reuses COFFER_TEST_DATABASE_URL instead when that is set).
# The browser tests need Debian's chromium: scripts/ensure-chromium.sh installs it when missing.
test: setup
	scripts/ensure-chromium.sh
	@if [[ -z "$${COFFER_TEST_DATABASE_URL:-}" ]]; then scripts/ensure-postgres.sh >/dev/null; fi
	scripts/with-postgres.sh $(MAKE) --no-print-directory check

check: lint pytest

lint:
	$(RUN) ruff check src tests bench
	$(RUN) mypy
	$(RUN) lint-imports --no-cache --no-logo

# One pytest worker per core (pytest-xdist): each worker has its own SQLite copies and its own
# PostgreSQL database (tests/conftest.py names it by process id).
pytest:
	$(RUN) pytest -n auto

# Only the browser tests (tests/browser: Playwright driving Debian's chromium), both databases.
browser: setup
	scripts/ensure-chromium.sh
	scripts/with-postgres.sh $(RUN) pytest tests/browser

# Regenerate docs/screenshots/*.png (the README's pictures) from the browser tests.
screenshots: setup
	scripts/screenshots.sh

bench: setup
	$(RUN) coffer bench ledger
