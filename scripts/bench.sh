#!/usr/bin/env bash
# The proxy benchmark (bench/proxy.py): what the gateway adds to a request, against nginx as the
# floor, at fixed rates and at maximum throughput, plain and streamed, then a soak run as a leak
# check. Installs Debian's nginx and wrk if missing, builds the release gateway and the load
# generator, and writes bench/results/proxy.md and proxy.json. Run on an otherwise idle machine.
#
# usage: scripts/bench.sh [--seconds N] [--repeats N] [--soak-seconds N] [--rates 1000,3000]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: nginx, wrk" 30 600
if ! command -v nginx >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
fi

step "build: gateway, load generator and HTTP-stack floors, release" 540 360
cargo build --release -p server --bin llm-gateway
cargo build --release -p testkit --features load --bin load --bin floor

step "benchmark" 360 0
python3 bench/proxy.py "$@"
step_done
