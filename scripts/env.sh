# Sourced by the scripts: where the project's tools live, put first on PATH.
GATEWAY_TOOLS_DIR="${GATEWAY_TOOLS_DIR:-$HOME/.cache/llm-gateway-tools}"
export PATH="$HOME/.cargo/bin:$GATEWAY_TOOLS_DIR/binaryen/node_modules/.bin:$PATH"
# cargo-leptos builds the server (debug) with this flag; tests use the same, so that they share
# its compiled dependencies instead of rebuilding them all.
LEPTOS_DEBUG_RUSTFLAGS="--cfg erase_components"
