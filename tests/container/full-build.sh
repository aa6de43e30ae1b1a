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

echo "== run it (SQLite in its /data volume)"
name="llm-gateway-full-$$"
coproc FAKE { exec target/debug/fake-providers --openai-addr 127.0.0.1:0; }
trap '"${podman[@]}" rm -f "$name" >/dev/null 2>&1; kill $FAKE_PID 2>/dev/null || true' EXIT
read -r first <&"${FAKE[0]}"
openai="${first#openai=}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
started=$(date +%s%N)
"${podman[@]}" run -d --name "$name" --network host "${limits[@]}" -e "GATEWAY_ADDR=127.0.0.1:$port" \
  -e ALLOWED_PRIVATE_UPSTREAMS=127.0.0.1 localhost/llm-gateway:full >/dev/null 2>&1
for _ in $(seq 1 500); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.02; done
echo "ready in $(( ($(date +%s%N) - started) / 1000000 )) ms"
jar="$work/cookies"
post() { curl -fsS -b "$jar" -c "$jar" -H "origin: $base" "$base/api/$1" "${@:2}"; }
post sign_up --data-urlencode email=ops@example.com --data-urlencode "password=a sturdy passphrase 42" >/dev/null
post add_provider --data-urlencode provider=openai --data-urlencode api_key=sk-x --data-urlencode "base_url=$openai" >/dev/null
key=$(post create_key --data-urlencode name=k | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
curl -fsS "$base/v1/chat/completions" -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' | grep -q 'Hello from the fake'
[ "$("${podman[@]}" top "$name" user | tail -n 1 | tr -d ' ')" = nonroot ]
"${podman[@]}" healthcheck run "$name" >/dev/null
echo "one /v1 request answered; runs as nonroot; healthy"
