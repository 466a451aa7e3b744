#!/usr/bin/env bash
# Update the Korean and English catalogues from the strings in the web code and templates.
# Then translate the new entries in src/coffer/web/translations/ko/LC_MESSAGES/messages.po
# (tests/unit/test_translations.py fails while any is missing or fuzzy).
set -euo pipefail
cd "$(dirname "$0")/.."
pot=$(mktemp --suffix=.pot)
trap 'rm -f "$pot"' EXIT
uv run --frozen pybabel --quiet extract -F babel.cfg --no-location --sort-output -o "$pot" \
    src/coffer/web >/dev/null
for locale in ko en; do
    uv run --frozen pybabel --quiet update -i "$pot" -d src/coffer/web/translations -l "$locale" \
        --no-fuzzy-matching --ignore-obsolete >/dev/null
done
echo "catalogues updated; translate the empty msgstr entries in the ko catalogue"
