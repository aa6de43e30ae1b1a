#!/usr/bin/env bash
# Runs every test: unit and integration (SQLite and PostgreSQL), the OpenAI Python and Node SDKs
# against the running binary, the browser tests in Debian's Chromium, and the container image
# (podman). Installs what is missing first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: wasm32 target, wasm-bindgen-cli, wasm-opt, Chromium, SDK clients, PostgreSQL" 190 810
scripts/install-tools.sh test
scripts/ensure-services.sh

step "build: portal (WASM) and server with every test target, debug" 720 90
scripts/build.sh --for-tests

# The SDK and browser suites start their own gateway processes (SQLite, their own ports) and
# mostly wait on them, so they run beside the Rust tests; their output is shown when they end.
logs=target/test-logs
rm -rf "$logs" && mkdir -p "$logs"
suite() {
  local name="$1"; shift
  ( local started=$SECONDS
    if "$@" >"$logs/$name.log" 2>&1; then
      echo "ok $((SECONDS - started))" >"$logs/$name.status"
    else
      echo "failed $((SECONDS - started))" >"$logs/$name.status"
    fi ) &
}
step "tests: Rust (unit and integration, SQLite and PostgreSQL), and beside them the SDKs and agents (Python, Node, Claude Code, Codex), the browser (Playwright, Chromium) and the container image (podman)" 90 0
suite python "$GATEWAY_TOOLS_DIR/venv/bin/python" -m pytest -q tests/python
suite node bash -c "cd tests/node && node --test"
suite clients bash -c "cd tests/clients && node --test"
suite browser bash -c "cd end2end && npx playwright test"
suite container bash tests/container/run.sh
rust_ok=true
RUSTFLAGS="$LEPTOS_DEBUG_RUSTFLAGS" cargo nextest run --workspace --exclude frontend --no-fail-fast || rust_ok=false
wait

failed=()
$rust_ok || failed+=(rust)
for name in python node clients browser container; do
  read -r outcome seconds <"$logs/$name.status" || outcome=failed
  printf '\n\033[1m-- %s: %s in %ss\033[0m (log: %s)\n' "$name" "$outcome" "${seconds:-?}" "$logs/$name.log"
  if [ "$outcome" = ok ]; then
    tail -n 3 "$logs/$name.log"
  else
    cat "$logs/$name.log"
    failed+=("$name")
  fi
done
step_done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all tests passed"
