#!/usr/bin/env bash
# Runs every test: unit and integration (SQLite and PostgreSQL), the OpenAI Python and Node SDKs
# against the running binary, and the browser tests in Debian's Chromium. Installs what is missing first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: wasm32 target, wasm-bindgen-cli, wasm-opt, Chromium, SDK clients, PostgreSQL" "about 5 min, then seconds"
scripts/install-tools.sh test
scripts/ensure-services.sh

step "build: portal (WASM) and server, debug" "about 9 min"
scripts/build.sh --for-tests

step "Rust tests (unit and integration, SQLite and PostgreSQL)" "about 4 min to compile the tests, 1 min to run"
RUSTFLAGS="$LEPTOS_DEBUG_RUSTFLAGS" cargo nextest run --workspace --exclude frontend --no-fail-fast

step "OpenAI Python SDK against the gateway"
"$GATEWAY_TOOLS_DIR/venv/bin/python" -m pytest -q tests/python

step "OpenAI Node SDK against the gateway"
(cd tests/node && node --test)

step "browser tests (Playwright, Chromium)" "about 1 min"
(cd end2end && npx playwright test)
step_done
