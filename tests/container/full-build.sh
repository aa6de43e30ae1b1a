#!/usr/bin/env bash
# The Containerfile built whole, both stages, where the official base images cannot be pulled (no
# container registry is reachable from this machine): stand-ins made offline — Debian 12 from the
# Debian mirror (mmdebstrap) with this machine's Rust toolchain where docker.io/library/rust keeps
# it (/usr/local/rustup, /usr/local/cargo), and the runtime base tests/container/run.sh makes —
# then the image run: ready, a sign-up, a provider, a key, one /v1 request, non-root, healthy.
# Heavy (a release build inside the container: ~20 min on 2 cores), so not part of the test
# command; run it after tests/container/run.sh, which leaves the runtime base behind.
#
# usage: tests/container/full-build.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source tests/container/smoke.sh
work="$root/target/container-full"
podman=(podman --runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
"${podman[@]}" image exists localhost/llm-gateway-base:offline || bash tests/container/run.sh

echo "== a stand-in for rust:1.95-bookworm"
rm -rf "$work" && mkdir -p "$work/ctx/rustup/toolchains" "$work/ctx/cargo"
if ! "${podman[@]}" image exists localhost/debian:bookworm-offline; then
  mmdebstrap --quiet --variant=apt --include=ca-certificates,gcc,libc6-dev,make,pkg-config,curl,git,xz-utils \
    bookworm "$work/rootfs.tar" http://deb.debian.org/debian
  "${podman[@]}" import -q "$work/rootfs.tar" localhost/debian:bookworm-offline >/dev/null
fi
toolchain="$(rustup toolchain list | awk '/default/{print $1}')"
cp -a "$HOME/.rustup/toolchains/$toolchain" "$work/ctx/rustup/toolchains/"
cp "$HOME/.rustup/settings.toml" "$work/ctx/rustup/"
cp -a "$HOME/.cargo/bin" "$work/ctx/cargo/"
# The registries are reached here through a TLS proxy whose CA only this machine's bundle holds.
cp -L /etc/ssl/certs/ca-certificates.crt "$work/ctx/"
cat >"$work/ctx/Containerfile" <<'EOC'
FROM localhost/debian:bookworm-offline
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOC
"${podman[@]}" build -q -t localhost/rust:bookworm-offline "$work/ctx" >/dev/null

echo "== the Containerfile, both stages"
"${podman[@]}" build --network host "${limits[@]}" --format docker \
  --build-arg BUILDER_IMAGE=localhost/rust:bookworm-offline \
  --build-arg RUNTIME_IMAGE=localhost/llm-gateway-base:offline \
  -t localhost/llm-gateway:full -f Containerfile .
echo "image: $(( $("${podman[@]}" image inspect localhost/llm-gateway:full --format '{{.Size}}') / 1000000 )) MB"

name="llm-gateway-full-$$"
fake_pid=""
fail() { echo "full build: $*" >&2; "${podman[@]}" logs "$name" 2>&1 | tail -n 30 >&2 || true; exit 1; }
trap '"${podman[@]}" rm -f "$name" >/dev/null 2>&1; [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true' EXIT
# SQLite in its /data volume, the master key generated there: the image's defaults.
smoke localhost/llm-gateway:full
