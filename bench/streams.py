"""Streams at scale: thousands of concurrent two-second chat streams through each target, on one
core, beside nginx and the peers a user would pick instead. Run by `scripts/bench.sh --streams`.

On 127.0.0.1 only, it starts
  - the upstream: testkit's `streams upstream`, an OpenAI-compatible server whose streams last
    about two seconds (a role chunk at once, 20 content chunks at a steady pace, the finish and
    usage chunks, `[DONE]`: 23 events), on the load core;
  - the targets, each pinned to core 0: nginx reverse-proxying unbuffered over pooled keep-alive
    connections (the floor); the release gateway (a Pro account, an OpenAI provider on the
    upstream, the per-key valves off), asked for chat completions (the provider's events passed
    through), Anthropic Messages and Responses (translated from the provider's chat events),
    Messages to an Anthropic model (the upstream's Messages events passed through, as Claude
    Code's requests are), and chat with the cache on (every stream after the first a replay); Portkey's open-source gateway
    and LiteLLM's proxy (`scripts/install-peers.sh`), one process each;
  - the clients: testkit's `streams clients`, N users each on a keep-alive connection asking for
    one stream after another for a fixed time, started over one second, on the load core.
For each target and each N it records completed streams, errors by kind, time to the first and to
the last byte (p50 / p99), the target's CPU (percent of its one core), its RSS at the middle of the
run and per open stream over its RSS before its first run. `direct` is the upstream itself, on the load core.
Writes bench/results/streams.md and streams.json.

One process may hold at most `ulimit -n` descriptors (20,000 on the benchmark machine, whose
hard limit cannot be raised without CAP_SYS_RESOURCE): a proxy holds one connection to its client
and one to the upstream per stream over HTTP/1.1, so 10,000 streams need 20,000 sockets and more.
The top level is 9,000 by default for that reason (at 9,900 the gateway ran out of descriptors:
its database file could not be opened, and some upstream connections failed); `--clients 10000`
shows what each target does past the limit.
"""

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import peers
from proxy import (ROOT, TARGET_CORE, LOAD_CORE, children, cpu_seconds, free_port, setup_gateway,
                   start_nginx, status_kib, stop, wait_for_port, write_results)

STREAMS = ROOT / "target/release/streams"

MARKERS = {"chat": "[DONE]", "messages": "message_stop", "responses": "response.completed"}


class Target:
    def __init__(self, name, url, route, pids, headers=(), model="gpt-4o-mini"):
        self.name, self.url, self.route, self.pids = name, url, route, pids
        self.headers, self.model = list(headers), model


def body_for(target, work):
    if target.route == "messages":
        body = {"model": target.model, "max_tokens": 256, "stream": True,
                "messages": [{"role": "user", "content": "Say hello"}]}
    elif target.route == "responses":
        body = {"model": target.model, "input": "Say hello", "stream": True}
    else:
        body = {"model": target.model, "stream": True,
                "messages": [{"role": "user", "content": "Say hello"}]}
    path = work / f"body-{target.route}-{target.model}.json"
    path.write_text(json.dumps(body))
    return path


def prime(target, work):
    body = json.loads(body_for(target, work).read_text())
    body.pop("stream")
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", target.url,
            "-H", "content-type: application/json", "-d", json.dumps(body)]
    for header in target.headers:
        args += ["-H", header]
    status = subprocess.run(args, capture_output=True, text=True).stdout
    if status != "200":
        raise RuntimeError(f"priming the cache through {target.name}: {status}")


def floor_server(listen, upstream):
    return f"""
    upstream up {{ server 127.0.0.1:{upstream}; keepalive 1024; }}
    server {{
        listen 127.0.0.1:{listen} backlog=4096;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}"""


def rss_mib(pids):
    return sum(status_kib(pid, "VmRSS") for pid in pids) / 1024


def run_clients(target, body, clients, seconds, pids, fresh, profile=None):
    """The clients' report, with the target's CPU and its RSS sampled in the middle of the run
    (per stream: over `fresh`, its RSS before its first run: RSS seldom shrinks, so over the RSS
    after an earlier run it would read low); with `profile` (a path), `perf record` samples the
    target's stacks meanwhile."""
    args = ["taskset", "-c", LOAD_CORE, str(STREAMS), "clients", "--url", target.url,
            "--body", str(body), "--clients", str(clients), "--seconds", str(seconds),
            "--expect", MARKERS[target.route]]
    for header in target.headers:
        args += ["--header", header]
    rss = []

    def sample():
        time.sleep(seconds / 2)
        rss.append(rss_mib(pids))

    sampler = threading.Thread(target=sample)
    cpu_before, started = cpu_seconds(pids), time.time()
    sampler.start()
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384", "-o",
                                 str(profile), "-p", ",".join(map(str, pids))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    output = subprocess.run(args, capture_output=True, text=True)
    wall = time.time() - started
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    sampler.join()
    if output.returncode != 0:
        raise RuntimeError(f"clients against {target.name} failed: {output.stderr[-2000:]}")
    report = json.loads(output.stdout)
    report["cpu_percent"] = 100 * (cpu_seconds(pids) - cpu_before) / wall
    report["fresh_rss_mib"] = fresh
    report["rss_mib"] = rss[0] if rss else None
    report["peak_rss_mib"] = max(status_kib(pid, "VmHWM") for pid in pids) / 1024
    if rss:
        report["kib_per_stream"] = (rss[0] - fresh) * 1024 / clients
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20, help="each run")
    parser.add_argument("--clients", default="1000,4000,9000")
    parser.add_argument("--targets", default="direct,nginx,gateway,gateway messages,"
                        "gateway messages native,gateway responses,gateway+cache,portkey,litellm")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--profile", metavar="DIR",
                        help="record each gateway run's stacks with perf into DIR")
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    wanted = args.targets.split(",")
    for tool in ("nginx", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run scripts/bench.sh, which installs it")

    work = Path(tempfile.mkdtemp(prefix="gateway-streams-"))
    processes = []
    try:
        upstream_port = free_port()
        upstream = subprocess.Popen(["taskset", "-c", LOAD_CORE, str(STREAMS), "upstream",
                                     "--port", str(upstream_port)])
        processes.append(upstream)
        floor_port = free_port()
        floor = start_nginx(work, "floor", TARGET_CORE, floor_server(floor_port, upstream_port),
                            connections=20000)
        processes.append(floor)
        wait_for_port(upstream_port)
        wait_for_port(floor_port)
        # Responses to OpenAI pass through to its Responses API: a Groq model (chat only) makes
        # the gateway translate, as Messages to an OpenAI model does.
        gateway, gateway_port, keys = setup_gateway(
            work, upstream_port, upstream_port,
            before_start=lambda cli: [
                cli("provider", "add", "--email", "bench-stream@example.com", "--provider", kind,
                    "--base-url", url, stdin=f"{secret}\n")
                for kind, url, secret in (
                    ("groq", f"http://127.0.0.1:{upstream_port}/v1", "gsk-bench-0123456789"),
                    ("anthropic", f"http://127.0.0.1:{upstream_port}", "sk-ant-bench-0123456789"))])
        processes.append(gateway)

        def nginx_pids(process):
            return lambda: [process.pid, *children(process.pid)]

        def gateway_pids():
            return [gateway.pid]

        chat = "/v1/chat/completions"
        base = f"http://127.0.0.1:{gateway_port}"
        auth = f"Authorization: Bearer {keys['stream']}"
        anthropic_auth = f"x-api-key: {keys['stream']}"
        targets = [
            Target("direct", f"http://127.0.0.1:{upstream_port}{chat}", "chat",
                   lambda: [upstream.pid]),
            Target("nginx", f"http://127.0.0.1:{floor_port}{chat}", "chat", nginx_pids(floor)),
            Target("gateway", base + chat, "chat", gateway_pids, [auth, "x-gateway-cache: off"]),
            Target("gateway messages", base + "/v1/messages", "messages", gateway_pids,
                   [anthropic_auth, "anthropic-version: 2023-06-01", "x-gateway-cache: off"]),
            # Claude Code's path: Messages to an Anthropic model, the provider's events passed
            # through as they come (read for usage on the way).
            Target("gateway messages native", base + "/v1/messages", "messages", gateway_pids,
                   [anthropic_auth, "anthropic-version: 2023-06-01", "x-gateway-cache: off"],
                   model="claude-3-5-haiku-latest"),
            Target("gateway responses", base + "/v1/responses", "responses", gateway_pids,
                   [auth, "x-gateway-cache: off"], model="llama-3.1-8b-instant"),
            Target("gateway+cache", base + chat, "chat", gateway_pids, [auth, "x-gateway-cache: on"]),
        ]
        for peer in peers.start(work, TARGET_CORE, {"stream": upstream_port},
                                [name for name in wanted if name in peers.NAMES]):
            processes.append(peer.process)
            headers, model = peer.ask["stream"]
            targets.append(Target(peer.name, peer.url, "chat", nginx_pids(peer.process), headers,
                                  model))
        targets = [target for target in targets if target.name in wanted]

        results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "seconds": args.seconds, "levels": levels, "runs": []}
        # A stream is answered from the cache when a whole answer to the same request is there
        # (streamed answers are not stored): one plain request puts it there.
        for target in targets:
            if "x-gateway-cache: on" in target.headers:
                prime(target, work)
        fresh = {target.name: rss_mib(target.pids()) for target in targets}
        for clients in levels:
            for target in targets:
                print(f"-- {target.name}: {clients} concurrent streams for {args.seconds} s", flush=True)
                profile = (Path(args.profile) / f"{target.name.replace(' ', '-')}-{clients}.data"
                           if args.profile and target.name.startswith("gateway") else None)
                outcome = run_clients(target, body_for(target, work), clients, args.seconds,
                                      target.pids(), fresh[target.name], profile)
                results["runs"].append({"target": target.name, **outcome})
                print(f"   {summary(results['runs'][-1])}", flush=True)
                # Let the connections of this run close, and every target go quiet, before the next.
                settle(lambda: [pid for other in targets for pid in other.pids()])
    finally:
        stop(processes, work)
    write_results(Path(args.out), "streams", results, report(results))


def settle(pids, quiet_percent=5, longest=90):
    """Waits (3 s at least, `longest` at most) until the targets' processes (`pids()`) together use under
    `quiet_percent` of a core. A peer overrun by a run goes on working through what it queued
    after the clients have gone, on the core the next target is pinned to: without this wait the
    next target's run shared that core (at 9,000 streams after LiteLLM at 4,000, the gateway got
    48 % of it)."""
    time.sleep(3)
    started = time.time()
    deadline = started + longest
    while time.time() < deadline:
        watched = pids()
        try:
            before = cpu_seconds(watched)
            time.sleep(1)
            if 100 * (cpu_seconds(watched) - before) < quiet_percent:
                if time.time() - started > 2:
                    print(f"   (the targets went quiet {time.time() - started:.0f} s later)", flush=True)
                return
        except FileNotFoundError:  # a worker process was replaced meanwhile: look again
            continue
    print(f"   the targets were still busy after {longest} s", flush=True)


def seconds_of(micros):
    return f"{micros / 1e6:.2f} s" if micros >= 100_000 else f"{micros / 1000:.1f} ms"


def summary(run):
    first, last = run["first_byte_us"], run["last_byte_us"]
    times = (f"first byte p50 {seconds_of(first['p50'])} p99 {seconds_of(first['p99'])}, "
             f"last byte p50 {seconds_of(last['p50'])} p99 {seconds_of(last['p99'])}"
             if first else "no stream completed")
    return (f"{run['completed']:,} completed, {run['errors']:,} errors {run['error_kinds'] or ''}; "
            f"{times}; CPU {run['cpu_percent']:.0f} %, RSS {run['rss_mib'] or 0:.0f} MiB")


def report(results):
    lines = [f"# Streams at scale, {results['date']}", "",
             f"Command: `scripts/bench.sh --streams`. Each run: N clients for {results['seconds']} s, "
             "each asking for one two-second stream (23 events) after another on a keep-alive "
             "connection; targets on core 0, upstream and clients on core 1. Completed: streams "
             "that ended, whole, within the run. RSS in the middle of the run; per stream: over "
             "the target's RSS before its first run (the gateway targets are one process).", ""]
    for clients in results["levels"]:
        runs = [run for run in results["runs"] if run["clients"] == clients]
        nginx = next((run for run in runs if run["target"] == "nginx"), None)
        lines += [f"## {clients:,} concurrent streams", "",
                  "| target | completed | vs nginx | errors | first byte p50 / p99 | last byte p50 / p99 "
                  "| CPU | RSS | per stream |", "|---|---|---|---|---|---|---|---|---|"]
        for run in runs:
            first, last = run["first_byte_us"], run["last_byte_us"]
            share = (f"{100 * run['completed'] / nginx['completed']:.0f} %"
                     if nginx and nginx["completed"] else "–")
            kinds = ", ".join(f"{kind} ×{count}" for kind, count in run["error_kinds"].items())
            lines.append(
                f"| {run['target']} | {run['completed']:,} | {share} | {run['errors']:,}"
                + (f" ({kinds})" if kinds else "") + " | "
                + (f"{seconds_of(first['p50'])} / {seconds_of(first['p99'])} | "
                   f"{seconds_of(last['p50'])} / {seconds_of(last['p99'])} | " if first else "– | – | ")
                + f"{run['cpu_percent']:.0f} % | {run['rss_mib'] or 0:.0f} MiB | "
                + (f"{run['kib_per_stream']:.1f} KiB |" if run.get("kib_per_stream") is not None else "– |"))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
