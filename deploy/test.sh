#!/usr/bin/env bash
# Installs everything the test suite needs (system packages included) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages: Chromium for the layout tests, PostgreSQL for the database tests,
# ffmpeg and nginx with the RTMP module for the media tests.
packages=(chromium postgresql ffmpeg nginx libnginx-mod-rtmp)
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)  # for `npm ci` of the pinned livekit-client
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth for local connections (the machine's own set-up).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "== starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

echo "== installing the package and its test dependencies"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
if [ -f package-lock.json ]; then
  echo "== npm ci (livekit-client, pinned by package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== lint, types and layer contracts"
.venv/bin/ruff check orchestrator tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layer contracts in pyproject.toml

echo "== check the vendored livekit-client against package-lock.json"
.venv/bin/python layouts/check_vendor.py --require

# Two runs: Playwright's sync API keeps an event loop on the main thread for its whole session,
# which the asyncio tests cannot share.
echo "== tests: unit, contracts, services and integration"
.venv/bin/pytest -q -p no:cacheprovider tests/unit tests/contracts tests/services tests/integration "$@"
echo "== tests: layouts in Chromium"
.venv/bin/pytest -q -p no:cacheprovider tests/browser "$@"
