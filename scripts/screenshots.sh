#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png (shown in the README) by running the browser tests that take
# them, on SQLite, with COFFER_DOCS_SCREENSHOTS=1. Every browser test also saves its shots under
# test-artifacts/screenshots/ (ignored by git) on any run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/ensure-chromium.sh
mkdir -p docs/screenshots
COFFER_DOCS_SCREENSHOTS=1 uv run --frozen pytest tests/browser -m "browser and not postgresql" -q "$@"
ls -l docs/screenshots/*.png
