#!/usr/bin/env bash
# The portal's weight: what the dashboard's first interactive load moves over the wire with the
# release build (wasm-opt -Oz, brotli 11), measured by Chromium itself (end2end/tests/
# weight.spec.ts), against the goal of 1 MB. Builds the release server and site (into
# target/site-release, beside the tests' debug site) and the fake providers the browser tests
# run. A release site needs the release server: pages and WASM must come from one build profile
# (debug builds carry `--cfg erase_components`, which changes the rendered markup).
#
# usage: bench/portal-weight.sh [LIMIT_BYTES]   (default 1000000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

limit="${1:-1000000}"
step "build: the release server and site, and the fake providers" 600 60
LEPTOS_SITE_ROOT=target/site-release bash scripts/build.sh --release
bash scripts/build.sh --for-tests   # the fake providers (and the tests' debug build)
for file in js wasm css; do
  printf '  llm-gateway.%s: %s bytes, %s brotli\n' "$file" \
    "$(stat -c %s "target/site-release/pkg/llm-gateway.$file")" \
    "$(stat -c %s "target/site-release/pkg/llm-gateway.$file.br")"
done

step "measure in Chromium (limit $limit bytes)" 60 0
cd end2end
E2E_SITE_ROOT=../target/site-release E2E_GATEWAY_BIN=../target/release/llm-gateway \
  WEIGHT_LIMIT_BYTES="$limit" \
  npx playwright test tests/weight.spec.ts --reporter=list
step_done
