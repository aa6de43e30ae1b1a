#!/usr/bin/env bash
# Install the two peer LLM gateways used for benchmarking, pinned, idempotent.
#   1. Portkey gateway (npm @portkey-ai/gateway) -> $BENCH_DIR/portkey   (npm install --prefix, no global)
#   2. LiteLLM proxy   (PyPI litellm[proxy])     -> $BENCH_DIR/litellm-venv
# Re-running when both are installed does nothing (only file-existence checks, well under 2 s).
# Usage: install-peers.sh [portkey|litellm|all]   (default all)
set -euo pipefail

BENCH_DIR="${BENCH_DIR:-/root/.cache/llm-gateway-bench}"
PORTKEY_VERSION="1.15.2"
# @hono/node-server >= 1.14.2 (its lightweight Response hands out the upstream fetch Response's immutable
# Headers) makes Portkey's Node build answer 500 {"status":"failure","message":"Something went wrong"}
# ("TypeError: immutable" in ResponseService.updateHeaders) for every streaming chat completion; see
# Portkey-AI/gateway#1389 / #1550. Pin 1.14.1, and @hono/node-ws to a release whose peer range accepts it.
HONO_NODE_SERVER_VERSION="1.14.1"
HONO_NODE_WS_VERSION="1.2.0"
PORTKEY_STAMP="$PORTKEY_VERSION+node-server-$HONO_NODE_SERVER_VERSION+node-ws-$HONO_NODE_WS_VERSION"
LITELLM_VERSION="1.108.7"
PORTKEY_PREFIX="$BENCH_DIR/portkey"
LITELLM_VENV="$BENCH_DIR/litellm-venv"
PYTHON="${PYTHON:-python3}"
NICE=(nice -n 19)

what="${1:-all}"
mkdir -p "$BENCH_DIR"

portkey_installed() {
  local pj="$PORTKEY_PREFIX/node_modules/@portkey-ai/gateway/package.json"
  [[ -f "$PORTKEY_PREFIX/.installed-$PORTKEY_STAMP" && -f "$pj" \
     && -f "$PORTKEY_PREFIX/node_modules/@portkey-ai/gateway/build/start-server.js" ]] \
     && grep -q "\"version\": *\"$PORTKEY_VERSION\"" "$pj"
}

litellm_installed() {
  [[ -f "$LITELLM_VENV/.installed-$LITELLM_VERSION" && -x "$LITELLM_VENV/bin/litellm" ]] \
    && compgen -G "$LITELLM_VENV/lib/python3*/site-packages/litellm-$LITELLM_VERSION.dist-info" >/dev/null
}

install_portkey() {
  if portkey_installed; then
    echo "portkey: @portkey-ai/gateway@$PORTKEY_VERSION already installed in $PORTKEY_PREFIX"
    return 0
  fi
  echo "portkey: installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_PREFIX"
  local t0=$SECONDS
  rm -f "$PORTKEY_PREFIX"/.installed-*
  mkdir -p "$PORTKEY_PREFIX"
  # our own package.json: keeps npm from walking up to a parent project, pins versions, holds the overrides
  cat > "$PORTKEY_PREFIX/package.json" <<JSON
{
  "name": "portkey-peer",
  "private": true,
  "dependencies": { "@portkey-ai/gateway": "$PORTKEY_VERSION" },
  "overrides": {
    "@hono/node-server": "$HONO_NODE_SERVER_VERSION",
    "@hono/node-ws": "$HONO_NODE_WS_VERSION"
  }
}
JSON
  rm -rf "$PORTKEY_PREFIX/node_modules" "$PORTKEY_PREFIX/package-lock.json"
  "${NICE[@]}" npm install --prefix "$PORTKEY_PREFIX" --no-audit --no-fund --loglevel=error
  grep -q "\"version\": *\"$HONO_NODE_SERVER_VERSION\"" "$PORTKEY_PREFIX/node_modules/@hono/node-server/package.json" \
    || { echo "portkey: @hono/node-server override did not apply" >&2; exit 1; }
  touch "$PORTKEY_PREFIX/.installed-$PORTKEY_STAMP"
  echo "portkey: done in $((SECONDS - t0)) s"
}

install_litellm() {
  if litellm_installed; then
    echo "litellm: litellm[proxy]==$LITELLM_VERSION already installed in $LITELLM_VENV"
    return 0
  fi
  echo "litellm: installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV"
  local t0=$SECONDS
  rm -f "$LITELLM_VENV"/.installed-*
  [[ -x "$LITELLM_VENV/bin/python" ]] || "$PYTHON" -m venv "$LITELLM_VENV"
  "${NICE[@]}" "$LITELLM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "litellm[proxy]==$LITELLM_VERSION"
  touch "$LITELLM_VENV/.installed-$LITELLM_VERSION"
  echo "litellm: done in $((SECONDS - t0)) s"
}

case "$what" in
  portkey) install_portkey ;;
  litellm) install_litellm ;;
  all)     install_portkey; install_litellm ;;
  *) echo "usage: $0 [portkey|litellm|all]" >&2; exit 2 ;;
esac
