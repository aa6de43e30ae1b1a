#!/usr/bin/env bash
# Builds (release) and starts LLM Gateway at http://127.0.0.1:3000 with SQLite in ./data/gateway.db.
# Any configuration variable (see README) may be set in the environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

scripts/install-tools.sh build
cargo leptos build --release
mkdir -p data
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/llm-gateway serve
