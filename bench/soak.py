#!/usr/bin/env python3
"""Soak: the gateway at a steady rate for minutes, with 5 % provider failures and 5 % clients that
walk away mid-stream, on SQLite or PostgreSQL. Checks, when it ends:

- no error that is not the provider's (every normal request is a 200, every failing one the
  provider's 502, no connection to the gateway refused or broken);
- every request accounted for in usage (one counted event per request, by status);
- no memory growth (RSS sampled every 10 s; the last third against the first third).

    python3 bench/soak.py --database sqlite --seconds 300 --rate 40
    python3 bench/soak.py --database postgres --seconds 300 --rate 40

Uses the binaries `scripts/build.sh --for-tests` leaves in target/debug (or --release-binaries).
"""

import argparse
import concurrent.futures
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from gateway_process import PASSWORD, binaries, cli_of, gateway_env, read_line_starting

PROVIDER_KEY = "sk-soak-0123456789abcdef"


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_request(base, key, kind):
    """Sends one request of `kind`; returns what the client saw."""
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
    if kind == "provider_failure":
        body["model"] = "openai/fake-error-500"
    if kind in ("stream", "walk_away"):
        body["stream"] = True
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if kind == "walk_away":
                response.readline()  # the first event line, then the client goes
                return "walked_away"
            response.read()
            return str(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return str(error.code)
    except Exception as error:  # a refused or broken connection: the gateway's fault
        return f"transport:{type(error).__name__}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--release-binaries", action="store_true")
    parser.add_argument("--wrap", default="", help="a command the server runs under, e.g. 'heaptrack -o /tmp/gw'")
    args = parser.parse_args()

    gateway_bin, fake_bin = binaries(args.release_binaries)
    work = Path(tempfile.mkdtemp(prefix="gw-soak-"))
    if args.database == "sqlite":
        database_url = f"sqlite://{work}/gateway.db?mode=rwc"
    else:
        name = f"gw_soak_{os.getpid()}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        database_url = f"postgres://postgres@127.0.0.1:5432/{name}"
    env = gateway_env(work, database_url)

    fake = subprocess.Popen([str(fake_bin), "--accept-key", PROVIDER_KEY], stdout=subprocess.PIPE, text=True)
    fake_url = read_line_starting(fake, "openai=")

    cli = cli_of(gateway_bin, env)

    cli("user", "create", "--email", "soak@example.com", "--plan", "enterprise", stdin=PASSWORD + "\n")
    cli("provider", "add", "--email", "soak@example.com", "--provider", "openai", "--base-url", fake_url,
        stdin=PROVIDER_KEY + "\n")
    key = cli("key", "create", "--email", "soak@example.com", "--name", "soak")
    server = subprocess.Popen([*args.wrap.split(), str(gateway_bin), "serve"], env=env, stdout=subprocess.PIPE,
                              text=True)
    base = read_line_starting(server, "LLM Gateway is running at ")
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()

    samples = []
    stop = threading.Event()

    def sample():
        while not stop.wait(10):
            samples.append(round(rss_mib(server.pid), 1))

    threading.Thread(target=sample, daemon=True).start()
    rng = random.Random(42)
    outcomes = Counter()
    sent = Counter()
    started = time.monotonic()
    total = int(args.seconds * args.rate)
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for n in range(total):
            due = started + n / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            roll = rng.random()
            kind = "provider_failure" if roll < 0.05 else "walk_away" if roll < 0.10 else \
                "stream" if roll < 0.55 else "plain"
            sent[kind] += 1
            futures.append((kind, pool.submit(one_request, base, key, kind)))
        for kind, future in futures:
            outcomes[(kind, future.result())] += 1
    elapsed = time.monotonic() - started
    stop.set()
    rss_end = rss_mib(server.pid)
    server.send_signal(signal.SIGTERM)  # queued usage is written on shutdown
    server.wait(timeout=60)
    fake.terminate()

    if args.database == "sqlite":
        db = sqlite3.connect(work / "gateway.db")
        rows = db.execute("SELECT status, COUNT(*) FROM usage_events WHERE counted GROUP BY status").fetchall()
    else:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database_url.rsplit("/", 1)[1],
                              "-At", "-F", " ", "-c",
                              "SELECT status, COUNT(*) FROM usage_events WHERE counted GROUP BY status"],
                             check=True, capture_output=True, text=True).stdout
        rows = [tuple(map(int, line.split())) for line in out.split("\n") if line]
    counted = {int(status): count for status, count in rows}

    expected = {"plain": "200", "stream": "200", "provider_failure": "502", "walk_away": "walked_away"}
    not_the_providers = {f"{kind}->{seen}": n for (kind, seen), n in outcomes.items() if seen != expected[kind]}
    third = max(1, len(samples) // 3)
    early, late = samples[:third], samples[-third:]
    growth = (sum(late) / len(late)) - (sum(early) / len(early)) if samples else 0.0
    report = {
        "database": args.database, "seconds": round(elapsed, 1), "rate": args.rate, "requests": total,
        "sent": dict(sent), "client_saw": {f"{k}->{v}": n for (k, v), n in sorted(outcomes.items())},
        "errors_not_the_providers": not_the_providers,
        "counted_events_by_status": counted, "counted_events": sum(counted.values()),
        "rss_mib_every_10s": samples, "rss_mib_at_end": round(rss_end, 1),
        "rss_growth_last_third_vs_first_mib": round(growth, 1),
    }
    print(json.dumps(report, indent=1))
    ok = not not_the_providers and sum(counted.values()) == total
    print("PASS" if ok else "FAIL", "-", "every request accounted for" if sum(counted.values()) == total
          else f"{total} requests, {sum(counted.values())} counted events")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
