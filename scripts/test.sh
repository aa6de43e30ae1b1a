#!/usr/bin/env bash
# Runs every test: unit and integration (SQLite and PostgreSQL), the OpenAI Python and Node SDKs
# against the running binary, and the browser tests in Debian's Chromium. Installs what is missing first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "tools"
scripts/install-tools.sh test
scripts/ensure-services.sh

step "build: portal (WASM) and server"
cargo leptos build
# Built together with the server so that features unify as for cargo-leptos (no rebuilds).
RUSTFLAGS="$LEPTOS_DEBUG_RUSTFLAGS" cargo build -p server -p testkit --bins

step "Rust tests (unit and integration, SQLite and PostgreSQL)"
RUSTFLAGS="$LEPTOS_DEBUG_RUSTFLAGS" cargo nextest run --workspace --exclude frontend --no-fail-fast

step "OpenAI Python SDK against the gateway"
"$GATEWAY_TOOLS_DIR/venv/bin/python" -m pytest -q tests/python

step "OpenAI Node SDK against the gateway"
(cd tests/node && node --test)

step "browser tests (Playwright, Chromium)"
(cd end2end && npx playwright test)
