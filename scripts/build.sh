#!/usr/bin/env bash
# Builds the portal and the server without cargo-leptos, doing what `cargo leptos build` does for
# this workspace (see [[workspace.metadata.leptos]] in Cargo.toml):
#   1. `frontend` for wasm32-unknown-unknown (profile wasm-release in release),
#   2. wasm-bindgen --target web into target/site/pkg as llm-gateway.js / llm-gateway.wasm,
#   3. wasm-opt -Oz in release,
#   4. style/main.css as pkg/llm-gateway.css and public/ into the site root,
#   5. .br and .gz beside the script, the WASM and the stylesheet (scripts/precompress.mjs; brotli
#      at its top quality in release, a quick one for the ~18 MB debug WASM the tests load), and
#      pkg/hash.txt, their digest, which pages link them under,
#   6. the server binary with the same flags; with --for-tests, every test target of the workspace
#      and the fake providers in the same cargo invocation, so that features unify as in
#      `cargo test` and the test run rebuilds nothing (a separate `cargo build --bins` would build
#      tokio without `test-util` and everything above it twice).
# Debug builds carry `--cfg erase_components` like cargo-leptos', so tests share their dependencies.
#
# usage: scripts/build.sh [--release] [--for-tests] [--site-only]
# (--site-only: the portal's files alone, e.g. a release site for bench/portal-weight.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

release=false
for_tests=false
site_only=false
for arg in "$@"; do
  case "$arg" in
    --release) release=true ;;
    --for-tests) for_tests=true ;;
    --site-only) site_only=true ;;
    *) echo "usage: scripts/build.sh [--release] [--for-tests] [--site-only]" >&2; exit 2 ;;
  esac
done

output_name=llm-gateway
site="${LEPTOS_SITE_ROOT:-target/site}"
pkg="$site/pkg"

if $release; then
  wasm_profile=(--profile wasm-release); wasm_dir=wasm-release
  server_profile=(--release)
  rustflags=""
else
  wasm_profile=(); wasm_dir=debug
  server_profile=()
  rustflags="$LEPTOS_DEBUG_RUSTFLAGS"
fi

build_log "portal: frontend → wasm32"
RUSTFLAGS="$rustflags" cargo build -p frontend --lib --target wasm32-unknown-unknown "${wasm_profile[@]}"

build_log "portal: wasm-bindgen"
mkdir -p "$pkg"
# Compressed copies of an earlier build would be served in place of this one's files, and its
# digest would name them.
rm -f "$pkg"/*.br "$pkg"/*.gz "$pkg/hash.txt"
wasm-bindgen --target web --out-name "$output_name" --out-dir "$pkg" \
  "target/wasm32-unknown-unknown/$wasm_dir/frontend.wasm"
# Leptos' HydrationScripts loads <output-name>.wasm (cargo-leptos renames it the same way).
mv -f "$pkg/${output_name}_bg.wasm" "$pkg/$output_name.wasm"
if $release; then
  build_log "portal: wasm-opt -Oz"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$pkg/$output_name.wasm" -o "$pkg/$output_name.wasm"
fi

cp style/main.css "$pkg/$output_name.css"
cp -R public/. "$site/"

build_log "portal: precompress (brotli, gzip)"
node scripts/precompress.mjs "$($release && echo 11 || echo 5)" \
  "$pkg/$output_name.js" "$pkg/$output_name.wasm" "$pkg/$output_name.css"

# Pages link the files under their digest, which browsers then keep for good (see
# server/src/site_assets.rs); written last, once the files it names are complete.
# Every file pages load is in it: wasm-bindgen's snippets too.
find "$pkg" -type f ! -name '*.br' ! -name '*.gz' ! -name hash.txt -print0 | sort -z \
  | xargs -0 cat | sha256sum | cut -c1-16 > "$pkg/hash.txt"

for file in "$pkg/$output_name".{js,wasm,css} "$pkg/$output_name".{js,wasm,css}.{br,gz} "$pkg/hash.txt"; do
  [ -s "$file" ] || { echo "build: $file is missing or empty" >&2; exit 1; }
done
if $site_only; then
  build_log "site in $site"
  exit 0
fi

if $for_tests; then
  targets=(--workspace --exclude frontend --bins --tests)
else
  targets=(-p server --bins)
fi
build_log "server: cargo build ${targets[*]} ${server_profile[*]}"
RUSTFLAGS="$rustflags" cargo build "${targets[@]}" "${server_profile[@]}"
build_log "site in $site, binary in target/$($release && echo release || echo debug)/llm-gateway"
