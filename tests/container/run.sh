#!/usr/bin/env bash
# The container image (Containerfile at the root) built and run as a self-hoster runs it, with
# Debian's podman: against this machine's PostgreSQL and the fake providers, sign up through its
# portal, add the provider, create a key, one /v1 request; it runs as non-root and reports
# healthy. No container registry is reachable here, so the two stages' inputs are made locally:
# the runtime base from this Debian's own glibc, CA certificates and a nonroot user (what
# gcr.io/distroless/cc-debian12:nonroot holds), and the build stage's output from this checkout's
# build (`--build-context builder=…` replaces that stage). This VM lacks CAP_SYS_RESOURCE and
# mounts cgroups in hybrid mode: crun refuses both, so containers run on runc with the limits
# this process already has.
#
# usage: tests/container/run.sh   (after scripts/build.sh --for-tests)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source tests/container/smoke.sh

work="$root/target/container"
image=localhost/llm-gateway:test
base=localhost/llm-gateway-base:offline
name="llm-gateway-test-$$"
database="gw_container_$$"
podman=(podman --runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
fake_pid=""

cleanup() {
  "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "container test: $*" >&2; "${podman[@]}" logs "$name" 2>&1 | tail -n 30 >&2 || true; exit 1; }

echo "== deploy/compose.yaml reads as compose (podman-compose; its images cannot be pulled here)"
tools="${GATEWAY_TOOLS_DIR:-$HOME/.cache/llm-gateway-tools}"
rendered=$("$tools/venv/bin/podman-compose" -f deploy/compose.yaml config) || fail "compose.yaml"
for service in gateway postgres redis; do
  grep -q "^  $service:" <<<"$rendered" || fail "compose.yaml has no $service service"
done
grep -q 'GATEWAY_MASTER_KEY_FILE: /run/secrets/master_key' <<<"$rendered" \
  || fail "the master key is not a secret"

echo "== the Helm chart: lint, render, Kubernetes schema (helm and kubernetes-validate from PyPI)"
helm="$tools/venv/bin/helm"
chart=deploy/helm/llm-gateway
required=(--set masterKey.value=c2VjcmV0 --set database.url=postgres://gw:pw@db:5432/gw)
"$helm" lint "$chart" "${required[@]}" >/dev/null || fail "helm lint"
"$helm" template gw "$chart" >/dev/null 2>&1 && fail "the chart renders without a master key or database"
mkdir -p "$work"
"$helm" template gw "$chart" "${required[@]}" --set redis.url=redis://redis:6379 \
  --set ingress.enabled=true --set otel.endpoint=http://collector:4318 >"$work/chart.yaml" || fail "helm template"
"$tools/venv/bin/kubernetes-validate" --quiet --strict -k 1.30.0 "$work/chart.yaml" || fail "the rendered chart"
# The schema check checks: a Deployment it must refuse is refused.
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: three}\n' >"$work/wrong.yaml"
"$tools/venv/bin/kubernetes-validate" --quiet --strict -k 1.30.0 "$work/wrong.yaml" >/dev/null 2>&1 \
  && fail "kubernetes-validate accepted a wrong Deployment"
for expected in 'replicas: 3' 'path: /readyz' 'path: /healthz' 'runAsNonRoot: true' \
  'kind: PodDisruptionBudget' 'kind: Ingress' 'GATEWAY_MASTER_KEY_FILE' 'name: REDIS_URL' \
  'OTEL_EXPORTER_OTLP_ENDPOINT'; do
  grep -q "$expected" "$work/chart.yaml" || fail "the rendered chart lacks $expected"
done
grep -q 'name: GATEWAY_MASTER_KEY$' "$work/chart.yaml" && fail "the master key is in the environment"

echo "== the runtime base, from this machine's files"
rm -rf "$work/base" "$work/context" && mkdir -p "$work/base"/{etc/ssl/certs,lib/x86_64-linux-gnu,lib64,tmp,home/nonroot}
for lib in $(ldd target/debug/llm-gateway | grep -o '/[^ ]*'); do
  cp -L "$lib" "$work/base$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$work/base/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$work/base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/base/etc/group"
chmod 1777 "$work/base/tmp"
tar -C "$work/base" -c . | "${podman[@]}" import -q - "$base" >/dev/null

echo "== the image (the build stage's output from this checkout's debug build)"
mkdir -p "$work/context/out/data"
cp target/debug/llm-gateway "$work/context/out/"
cp -R target/site "$work/context/out/site"
cp -R gateway/router "$work/context/out/router"
"${podman[@]}" build -q --format docker --build-context "builder=$work/context" \
  --build-arg "RUNTIME_IMAGE=$base" -t "$image" -f Containerfile . >/dev/null
size=$("${podman[@]}" image inspect "$image" --format '{{.Size}}')
echo "image $image: $((size / 1024 / 1024)) MiB (debug binary $(( $(stat -c %s target/debug/llm-gateway) / 1024 / 1024 )) MiB)"

psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE $database" >/dev/null
smoke "$image" -e "DATABASE_URL=postgres://postgres@127.0.0.1:5432/$database" \
  -e "GATEWAY_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
