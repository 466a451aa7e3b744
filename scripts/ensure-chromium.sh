#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (tests/browser/).
#
# Playwright's own browser download is not available here: the tests drive /usr/bin/chromium
# ($COFFER_CHROMIUM overrides the path). When it is missing and we run as root on a Debian-like
# system, installs the chromium package non-interactively, with a Korean font so that pages and
# screenshots in Korean show real glyphs.
set -euo pipefail

chromium=${COFFER_CHROMIUM:-/usr/bin/chromium}
need=()
[[ -x "$chromium" ]] || need+=(chromium)
if ! fc-list 2>/dev/null | grep -qi -e nanum -e "noto sans cjk"; then
    need+=(fonts-nanum)
fi
if [[ ${#need[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing for the browser tests: ${need[*]}; install them (Debian: apt-get install" \
        "${need[*]}) or set COFFER_CHROMIUM to a chromium binary." >&2
    exit 1
fi

echo "installing ${need[*]} for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
{
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
} >&2
[[ -x "$chromium" ]] || { echo "$chromium is still missing after the install" >&2; exit 1; }
