#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when they are missing:
# zlib headers (gzip batches, via compress-nio), SQLite headers (the metadata catalog, via GRDB), Python's venv
# module (end-to-end tests), promtool (from Debian's prometheus package: the test that checks /metrics) and
# Chromium (the browser Playwright drives in the dashboard's test, python/dashboard.py).
set -euo pipefail

missing=()
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ -f /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
