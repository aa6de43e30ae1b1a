#!/usr/bin/env bash
# Three replicas on one PostgreSQL and Redis behind nginx (bench/replicas.py): spread, cache,
# revocation, quota and budget across replicas, and one replica killed under load. Installs
# Debian's nginx if missing and builds the debug binaries the tests use.
#
# usage: bench/replicas.sh [--seconds N] [--rate R] [--release-binaries]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh

step "tools: nginx; services: PostgreSQL, Redis" 30 120
if ! command -v nginx >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
scripts/ensure-services.sh

step "build: the debug binaries" 720 60
scripts/build.sh --for-tests

step "benchmark" 60 0
python3 bench/replicas.py "$@"
step_done
