#!/usr/bin/env python3
"""Three replicas on one PostgreSQL and one Redis, behind Debian's nginx, as real processes:

- steady load through nginx: how it spreads, what the clients see;
- the response cache: an answer stored through one replica is served by the others;
- a key revoked in the portal of one replica is refused by all within ACCOUNT_CHANGE_POLL_MS;
- the monthly quota and a budget, hit from all three at once, hold exactly;
- one replica killed with SIGKILL under load and restarted: only its in-flight requests fail,
  and every answered request of the others is in usage.

    python3 bench/replicas.py            (bench/replicas.sh installs nginx and builds first)

Uses the binaries `scripts/build.sh --for-tests` leaves in target/debug (or --release-binaries).
Prints a JSON report and PASS/FAIL per check.
"""

import argparse
import base64
import concurrent.futures
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from gateway_process import PASSWORD, binaries, cli_of, gateway_env, read_line_starting

PROVIDER_KEY = "sk-replicas-0123456789abcdef"
POLL_MS = 500
QUOTA = 40
BUDGET_USD = 0.0003


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat(base, key, prompt, timeout=30, max_tokens=None):
    """One chat request; returns (status or transport error, headers)."""
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    if max_tokens:
        body["max_tokens"] = max_tokens
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return str(response.status), dict(response.headers)
    except urllib.error.HTTPError as error:
        error.read()
        return str(error.code), dict(error.headers)
    except Exception as error:  # noqa: BLE001 - a refused or broken connection
        return f"transport:{type(error).__name__}", {}


class Replicas:
    def __init__(self, gateway_bin, env, ports):
        self.gateway_bin, self.env, self.ports = gateway_bin, env, ports
        self.processes = {}

    def start(self, index):
        env = {**self.env, "GATEWAY_ADDR": f"127.0.0.1:{self.ports[index]}"}
        process = subprocess.Popen([str(self.gateway_bin), "serve"], env=env, stdout=subprocess.PIPE,
                                   text=True)
        read_line_starting(process, "LLM Gateway is running at ")
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        self.processes[index] = process

    def base(self, index):
        return f"http://127.0.0.1:{self.ports[index]}"

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # queued usage is written on shutdown
        for process in self.processes.values():
            process.wait(timeout=60)


def psql(database, sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-At", "-F", " ",
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.split("\n") if line]


def nginx_conf(work, listen, ports):
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in ports)
    return f"""daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  upstream gateway {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--release-binaries", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="the steady load's length")
    parser.add_argument("--rate", type=float, default=100.0, help="the steady load's requests per second")
    args = parser.parse_args()

    gateway_bin, fake_bin = binaries(args.release_binaries)
    work = Path(tempfile.mkdtemp(prefix="gw-replicas-"))
    database = f"gw_replicas_{os.getpid()}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    config = work / "gateway.toml"
    config.write_text(f"[plans.free]\nrequests_per_month = {QUOTA}\ngateway_keys = 5\nproviders = 2\n"
                      "retention_days = 7\nstreaming = false\nresponse_cache = false\n")
    env = {**gateway_env(work, f"postgres://postgres@127.0.0.1:5432/{database}"),
           "REDIS_URL": "redis://127.0.0.1:6379", "REDIS_KEY_PREFIX": f"gw-replicas-{os.getpid()}",
           "ACCOUNT_CHANGE_POLL_MS": str(POLL_MS), "GATEWAY_CONFIG": str(config),
           "GATEWAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    fake = subprocess.Popen([str(fake_bin), "--accept-key", PROVIDER_KEY], stdout=subprocess.PIPE, text=True)
    fake_url = read_line_starting(fake, "openai=")

    cli = cli_of(gateway_bin, env)
    cli("migrate")

    def tenant(email, plan):
        cli("user", "create", "--email", email, "--plan", plan, stdin=PASSWORD + "\n")
        cli("provider", "add", "--email", email, "--provider", "openai", "--base-url", fake_url,
            stdin=PROVIDER_KEY + "\n")
        return cli("key", "create", "--email", email, "--name", "main")

    pro_key = tenant("pro@example.com", "pro")
    doomed_key = cli("key", "create", "--email", "pro@example.com", "--name", "doomed")
    cli("routing", "set", "--email", "pro@example.com", "--json", '{"cache": true}')
    quota_key = tenant("free@example.com", "free")
    budget_key = tenant("budget@example.com", "pro")
    cli("limits", "set", "--email", "budget@example.com", "--budget-usd", str(BUDGET_USD))

    replicas = Replicas(gateway_bin, env, [free_port() for _ in range(3)])
    for index in range(3):
        replicas.start(index)
    listen = free_port()
    (work / "nginx.conf").write_text(nginx_conf(work, listen, replicas.ports))
    nginx = subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
                             stderr=subprocess.DEVNULL)
    front = f"http://127.0.0.1:{listen}"
    for _ in range(100):
        if chat(front, pro_key, "warm up")[0] == "200":
            break
        time.sleep(0.05)
    report, checks = {}, {}
    run_id = os.getpid()

    # 1. Steady load through nginx.
    outcomes, upstreams, latencies = Counter(), Counter(), []
    total = int(args.seconds * args.rate)
    started = time.monotonic()

    def timed(n):
        t0 = time.monotonic()
        status, headers = chat(front, pro_key, f"steady {run_id} {n}")
        return status, headers.get("X-Upstream", "?"), time.monotonic() - t0

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for n in range(total):
            delay = started + n / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(timed, n))
        for future in futures:
            status, upstream, seconds = future.result()
            outcomes[status] += 1
            upstreams[upstream] += 1
            latencies.append(seconds)
    latencies.sort()
    report["steady"] = {"requests": total, "rate": args.rate, "statuses": dict(outcomes),
                        "per_replica": dict(upstreams),
                        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1)}
    checks["steady: every request answered 200, each replica served"] = (
        outcomes == Counter({"200": total}) and len(upstreams) == 3)

    # 2. The cache: stored through replica 0, served by 1 and 2.
    prompt = f"cached across replicas {run_id}"
    seen = [chat(replicas.base(i), pro_key, prompt)[1].get("x-gateway-cache", "-") for i in range(3)]
    report["cache"] = {"x-gateway-cache on replicas 0, 1, 2": seen}
    checks["cache: written by one, a hit on the others"] = seen[0] != "HIT" and seen[1:] == ["HIT", "HIT"]

    # 3. A key revoked in the portal of replica 0: refused by all within the poll interval.
    for i in range(3):
        assert chat(replicas.base(i), doomed_key, "before")[0] == "200"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def portal(function, form):
        request = urllib.request.Request(
            f"{replicas.base(0)}/api/{function}", data=urllib.parse.urlencode(form).encode(),
            headers={"Origin": replicas.base(0), "Accept": "application/json"})
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    portal("log_in", {"email": "pro@example.com", "password": PASSWORD})
    doomed = next(key for key in portal("list_keys", {}) if key["name"] == "doomed")
    revoked_at = time.monotonic()
    portal("revoke_key", {"id": doomed["id"]})
    refused_after = {}
    while len(refused_after) < 3 and time.monotonic() - revoked_at < 10:
        for i in range(3):
            if i not in refused_after and chat(replicas.base(i), doomed_key, "after")[0] == "401":
                refused_after[i] = round((time.monotonic() - revoked_at) * 1000)
        time.sleep(0.01)
    report["revocation"] = {"ms_until_refused_per_replica": refused_after, "poll_ms": POLL_MS}
    checks[f"revocation: refused by all three within {POLL_MS} ms (+100 ms for the check itself)"] = (
        len(refused_after) == 3 and max(refused_after.values()) <= POLL_MS + 100)

    # 4. The monthly quota and a budget, from all three replicas at once.
    def burst(key, count, label, max_tokens=None):
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            results = list(pool.map(
                lambda n: chat(replicas.base(n % 3), key, f"{label} {run_id} {n}", max_tokens=max_tokens)[0],
                range(count)))
        return Counter(results)

    quota = burst(quota_key, QUOTA + 20, "quota")
    report["quota"] = {"limit": QUOTA, "sent": QUOTA + 20, "statuses": dict(quota)}
    checks[f"quota: exactly {QUOTA} served across replicas"] = quota == Counter({"200": QUOTA, "429": 20})
    # A request reserves its worst case (its max_tokens) until it ends: spent + reserved never
    # passes the budget, so the spend ends within one worst case of it, never above.
    budget = burst(budget_key, 80, "budget", max_tokens=20)
    budget_account = psql(database, "SELECT id FROM accounts WHERE email = 'budget@example.com'")[0][0]

    def spent_so_far():
        time.sleep(2.5)  # usage is written in batches every second
        return tuple(map(float, psql(database, "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(MAX(cost_usd), 0) "
                                               f"FROM usage_events WHERE account_id = {budget_account}")[0]))

    after_burst, costliest = spent_so_far()
    # In the burst, requests were refused while others' worst cases were still reserved; one at
    # a time, round the replicas, until refused, the rest of the budget is used.
    topped_up = Counter()
    for n in range(100):
        status = chat(replicas.base(n % 3), budget_key, f"top-up {run_id} {n}", max_tokens=20)[0]
        topped_up[status] += 1
        if status != "200":
            break
    spent, costliest = spent_so_far()
    worst_case = 64 * 0.15e-6 + 20 * 0.6e-6  # a reservation: the prompt's bytes as tokens, max_tokens
    report["budget"] = {"budget_usd": BUDGET_USD, "burst_of_80_statuses": dict(budget),
                        "spent_after_burst_usd": after_burst, "one_at_a_time_then": dict(topped_up),
                        "spent_usd": spent, "one_request_usd": costliest, "worst_case_usd": worst_case}
    checks["budget: never above it; one at a time it is used to within one request's worst case"] = (
        BUDGET_USD - worst_case <= spent <= BUDGET_USD and budget.get("429", 0) > 0
        and set(budget) <= {"200", "429"} and topped_up.get("429", 0) == 1)

    # 5. Replica 2 killed with SIGKILL under load, then restarted.
    pro_account = psql(database, "SELECT id FROM accounts WHERE email = 'pro@example.com'")[0][0]
    since_ms = int(time.time() * 1000)
    stop = threading.Event()
    results = []

    def client(worker):
        n = 0
        while not stop.is_set():
            status, headers = chat(front, pro_key, f"kill {run_id} {worker} {n}")
            results.append((time.monotonic(), status, headers.get("X-Upstream", "?")))
            n += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    load_started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(2.5)
    replicas.processes[2].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    replicas.processes[2].wait()
    time.sleep(2.5)
    replicas.start(2)
    restarted_at = time.monotonic()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join()
    time.sleep(2.5)
    replicas.stop_all()
    nginx.terminate()
    fake.terminate()
    answered = [r for r in results if r[1] == "200"]
    failed = [r for r in results if r[1] != "200"]
    counted = int(psql(database, f"SELECT COUNT(*) FROM usage_events WHERE account_id = {pro_account} "
                                 f"AND counted AND status = 200 AND created_at >= {since_ms}")[0][0])
    killed_port = str(replicas.ports[2])
    # Usage waits at most a flush interval (1 s) in memory: what the killed replica answered in
    # its last moments may be lost with it, nothing else.
    answered_by_killed_last_second = sum(1 for t, _, up in answered
                                         if up.endswith(killed_port) and killed_at - 1.5 <= t < killed_at)
    report["kill"] = {
        "requests": len(results), "answered": len(answered),
        "failed": Counter(f"{status} via {up}" for _, status, up in failed),
        "failed_at_s_after_kill": [round(t - killed_at, 3) for t, _, _ in failed],
        "per_replica_answered": dict(Counter(up for _, _, up in answered)),
        "answered_by_the_killed_one_in_its_last_1.5_s": answered_by_killed_last_second,
        "usage_events_counted": counted,
        "answered_without_usage": len(answered) - counted,
        "load_seconds": round(time.monotonic() - load_started, 1),
        "restarted_after_s": round(restarted_at - killed_at, 1),
    }
    # In flight on the killed replica: at most one request per client. Usage: every answer of the
    # other two is written; the killed one may lose what it answered in its last second.
    checks["kill: only the killed replica's in-flight requests failed (at most one per client)"] = (
        len(failed) <= len(threads) and all(abs(t - killed_at) < 1.0 for t, _, _ in failed))
    checks["kill: every answer is in usage but the killed replica's last second"] = (
        0 <= len(answered) - counted <= answered_by_killed_last_second)

    report["checks"] = checks
    print(json.dumps(report, indent=1, default=str))
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {database}"])
    for name, ok in checks.items():
        print("PASS" if ok else "FAIL", "-", name)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
