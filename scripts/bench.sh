#!/usr/bin/env bash
# The proxy benchmarks, against nginx as the floor and the peers a user would pick instead
# (Portkey's and LiteLLM's gateways, installed pinned by scripts/install-peers.sh):
#   scripts/bench.sh [proxy options]      bench/proxy.py: what the gateway adds to a request, at
#       fixed rates and at maximum throughput, plain and streamed, then a soak run as a leak check;
#       writes bench/results/proxy.md and proxy.json.
#   scripts/bench.sh --streams [options]  bench/streams.py: thousands of concurrent two-second
#       streams (1,000 / 4,000 / 9,000 by default); writes bench/results/streams.md and streams.json.
# Installs Debian's nginx and wrk if missing, builds the release gateway and the load generators.
# Run on an otherwise idle machine.
#
# usage: scripts/bench.sh [--seconds N] [--repeats N] [--soak-seconds N] [--rates 1000,3000]
#        scripts/bench.sh --streams [--seconds N] [--clients 1000,4000] [--targets nginx,gateway]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: nginx, wrk, the peers (Portkey, LiteLLM)" 90 600
if ! command -v nginx >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
fi
bash scripts/install-peers.sh all

step "build: gateway, load generators and HTTP-stack floors, release" 540 360
cargo build --release -p server --bin llm-gateway
cargo build --release -p testkit --features load --bin load --bin floor --bin streams

step "benchmark" 360 0
if [ "${1:-}" = "--streams" ]; then
  shift
  python3 bench/streams.py "$@"
else
  python3 bench/proxy.py "$@"
fi
step_done
