#!/usr/bin/env bash
# Builds (release) and starts LLM Gateway at http://127.0.0.1:3000 with SQLite in ./data/gateway.db.
# Any configuration variable (see README) may be set in the environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: wasm32 target, wasm-bindgen-cli, wasm-opt" 180 540
scripts/install-tools.sh build

step "build: portal (WASM) and server, release" 540 0
scripts/build.sh --release
step_done

mkdir -p data
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/llm-gateway serve
