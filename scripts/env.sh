# Sourced by the scripts: where the project's tools live, put first on PATH, and progress output.
GATEWAY_TOOLS_DIR="${GATEWAY_TOOLS_DIR:-$HOME/.cache/llm-gateway-tools}"
export PATH="$HOME/.cargo/bin:$GATEWAY_TOOLS_DIR/binaryen/node_modules/.bin:$PATH"
# Debug builds of the server carry this flag (as cargo-leptos' do); tests use the same, so that
# they share its compiled dependencies instead of rebuilding them all.
LEPTOS_DEBUG_RUSTFLAGS="--cfg erase_components"

# Progress: `step NAME SECS LEFT_SECS` closes the previous step with its duration and opens the
# next, saying how long it and the steps after it take on a first run of a 2-core machine (SECS
# and LEFT_SECS; later runs only check, or rebuild what changed, in seconds).
_script_started=${_script_started:-$SECONDS}
_step_started=""
_step_name=""
step_done() {
  if [ -n "$_step_name" ]; then
    printf '\033[1m== done: %s in %s (%s so far)\033[0m\n' "$_step_name" \
      "$(_duration $((SECONDS - _step_started)))" "$(_duration $((SECONDS - _script_started)))"
  fi
  _step_name=""
}
step() {
  step_done
  _step_name="$1"
  _step_started=$SECONDS
  printf '\n\033[1m== %s\033[0m  (on a first run: ~%s, then ~%s for the rest)\n' "$1" \
    "$(_duration "${2:-0}")" "$(_duration "${3:-0}")"
}
build_log() { printf '\033[1m[build]\033[0m %s\n' "$*"; }
_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
