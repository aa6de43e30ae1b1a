"""What the gateway adds to a request, against nginx as the floor: run by `scripts/bench.sh`.

On 127.0.0.1 only, it starts
  - the upstream: nginx answering every POST with a canned chat completion (one port) or a canned
    SSE stream (another port), the fixtures of the fake OpenAI server;
  - the floor: a second nginx, reverse-proxying to the upstream with pooled keep-alive connections
    and unbuffered responses;
  - the gateway: the release binary on a fresh SQLite database, with a Pro account (a higher monthly
    quota so the run never hits it), a gateway key and an OpenAI provider pointing at the upstream;
    requests use `model: auto`, so auth, routing, quota and usage recording all run;
  - the HTTP-stack floors (testkit's `floor`): the cheapest Rust proxy on hyper-util's client and
    on reqwest (the gateway's client), which forward and do nothing else, measured at maximum
    throughput only: the ceiling of any gateway built on each stack.
The targets (floor nginx and gateway) are pinned to core 0; the upstream and the load generators
to core 1. For each of direct / nginx / gateway / gateway with the cache on, plain and streamed, it
measures latency at fixed rates (the open-loop generator `load`, latency counted from when each
request was due; each rate repeated with the targets in turn, and the median of the repetitions
reported) and maximum throughput (wrk, 64 connections), with the target's CPU and peak RSS, then
a soak run (RSS sampled every 10 s) as a leak check. It writes a markdown table and the raw
numbers to bench/results/.
"""

import argparse
import json
import os
import re
import shutil
import signal
from statistics import median
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import peers
from gateway_process import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
# A/B runs may point at another build.
GATEWAY = Path(os.environ.get("BENCH_GATEWAY_BIN", ROOT / "target/release/llm-gateway"))
LOAD = ROOT / "target/release/load"
FLOOR = ROOT / "target/release/floor"
FIXTURES = ROOT / "testkit/fixtures/openai"
TARGET_CORE, LOAD_CORE = "0", "1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def nginx_string(text):
    """A body for nginx's `return`: quoted, with what nginx would interpret escaped."""
    if "$" in text:
        raise ValueError("nginx would read `$` as a variable; the fixtures have none")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_nginx(work, name, core, servers, connections=4096):
    root = work / name
    (root / "logs").mkdir(parents=True)
    conf = root / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile {connections * 2 + 64};
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections {connections * 2}; }}
http {{
    access_log off;
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
    keepalive_requests 1000000;
{servers}
}}
""")
    process = subprocess.Popen(
        ["taskset", "-c", core, "nginx", "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    return process


def upstream_servers(json_port, sse_port):
    completion = (FIXTURES / "chat_completion.json").read_text()
    stream = (FIXTURES / "chat_completion_stream.sse").read_text()
    return f"""
    server {{
        listen 127.0.0.1:{json_port};
        location / {{ default_type application/json; return 200 {nginx_string(completion)}; }}
    }}
    server {{
        listen 127.0.0.1:{sse_port};
        location / {{ default_type text/event-stream; return 200 {nginx_string(stream)}; }}
    }}
"""


def floor_servers(pairs):
    blocks = []
    for number, (listen, upstream) in enumerate(pairs):
        blocks.append(f"""
    upstream up{number} {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://up{number};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}""")
    return "\n".join(blocks)


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def status_kib(pid, field):
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


class Target:
    def __init__(self, name, url, pids, headers=(), body=None):
        self.name, self.url, self.pids, self.headers = name, url, pids, list(headers)
        self.body = body  # a request body of its own (a peer's model name), else the mode's


def run_load(target, body, rate, seconds):
    args = ["taskset", "-c", LOAD_CORE, str(LOAD), "--url", target.url, "--body", str(body),
            "--rate", str(rate), "--seconds", str(seconds)]
    for header in target.headers:
        args += ["--header", header]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def run_wrk(target, body, seconds, work):
    script = work / f"wrk-{abs(hash((target.name, str(body))))}.lua"
    headers = ["Content-Type: application/json", *target.headers]
    lines = [f"wrk.method = 'POST'", f"wrk.body = {json.dumps(body.read_text())}"]
    lines += [f"wrk.headers[{json.dumps(h.split(':', 1)[0])}] = {json.dumps(h.split(':', 1)[1].strip())}"
              for h in headers]
    script.write_text("\n".join(lines) + "\n")
    output = subprocess.run(
        ["taskset", "-c", LOAD_CORE, "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "-s",
         str(script), target.url],
        check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {"requests_per_second": rate, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else None, "raw": output}


def measured(target, action):
    """Runs `action`, with the target's CPU use (percent of one core) and peak RSS (MiB)."""
    pids = target.pids()
    cpu_before, started = cpu_seconds(pids), time.time()
    result = action()
    wall = time.time() - started
    result["cpu_percent"] = 100 * (cpu_seconds(pids) - cpu_before) / wall
    result["peak_rss_mib"] = max(status_kib(pid, "VmHWM") for pid in pids) / 1024
    return result


def setup_gateway(work, json_port, sse_port, before_start=None):
    """The release gateway on a fresh SQLite database, an account per mode; `before_start(cli)`
    adds to them with the admin CLI."""
    data = work / "gateway"
    data.mkdir()
    config = data / "gateway.toml"
    # Pro's limits, with a monthly quota no benchmark reaches: the quota is still counted.
    config.write_text("""
[plans.pro]
requests_per_month = 1000000000
gateway_keys = 50
providers = 10
retention_days = 90
streaming = true
response_cache = true
""")
    port = free_port()
    # No per-key valves (a benchmark is one busy key), and room for thousands of open streams
    # from the one client address.
    env = {**os.environ, "DATABASE_URL": f"sqlite://{data}/gateway.db?mode=rwc",
           "GATEWAY_DATA_DIR": str(data), "GATEWAY_CONFIG": str(config),
           "GATEWAY_ADDR": f"127.0.0.1:{port}", "RUST_LOG": "warn",
           "ALLOWED_PRIVATE_UPSTREAMS": "127.0.0.1", "KEY_REQUESTS_PER_SECOND": "0",
           "KEY_CONCURRENT_STREAMS": "0", "MAX_CONNECTIONS": "20000",
           "MAX_CONNECTIONS_PER_ADDRESS": "20000"}
    env.pop("GATEWAY_MASTER_KEY", None)

    def cli(*args, stdin=None):
        return subprocess.run([str(GATEWAY), *args], input=stdin, env=env, text=True,
                              capture_output=True, check=True).stdout.strip()

    keys = {}
    for name, upstream in (("plain", json_port), ("stream", sse_port)):
        email = f"bench-{name}@example.com"
        cli("user", "create", "--email", email, "--plan", "pro", stdin="a sturdy passphrase 42\n")
        cli("provider", "add", "--email", email, "--provider", "openai",
            "--base-url", f"http://127.0.0.1:{upstream}/v1", stdin="sk-bench-0123456789\n")
        keys[name] = cli("key", "create", "--email", email, "--name", "bench")
    if before_start:
        before_start(cli)
    process = subprocess.Popen(["taskset", "-c", TARGET_CORE, str(GATEWAY), "serve"], env=env,
                               stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return process, port, keys


def median_of(runs):
    """One fixed-rate result from its repetitions: the median of each percentile, all errors."""
    merged = {"errors": sum(run["errors"] for run in runs),
              "cpu_percent": median([run["cpu_percent"] for run in runs]),
              "peak_rss_mib": max(run["peak_rss_mib"] for run in runs)}
    for metric in ("first_byte_us", "last_byte_us"):
        present = [run[metric] for run in runs if run[metric] is not None]
        merged[metric] = ({q: median([p[q] for p in present]) for q in present[0]}
                          if present else None)
    return merged


def percent(value):
    return f"{value:.0f} %"


def micros(value):
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="each measured run")
    parser.add_argument("--soak-seconds", type=int, default=300, help="the leak check (0: skip)")
    parser.add_argument("--rates", default="1000,3000")
    parser.add_argument("--repeats", type=int, default=3, help="of each fixed-rate run")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--peers", default="portkey,litellm",
                        help="peers measured at maximum throughput ('' for none)")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",")]
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run scripts/bench.sh, which installs it")

    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    processes = []
    try:
        json_port, sse_port = free_port(), free_port()
        upstream = start_nginx(work, "upstream", LOAD_CORE, upstream_servers(json_port, sse_port))
        processes.append(upstream)
        floor_json, floor_sse = free_port(), free_port()
        floor = start_nginx(work, "floor", TARGET_CORE,
                            floor_servers([(floor_json, json_port), (floor_sse, sse_port)]))
        processes.append(floor)
        for port in (json_port, sse_port, floor_json, floor_sse):
            wait_for_port(port)
        floors = {}
        for stack in ("hyper", "reqwest"):
            for upstream_port in (json_port, sse_port):
                port = free_port()
                processes.append(subprocess.Popen(
                    ["taskset", "-c", TARGET_CORE, str(FLOOR), "--client", stack, "--port", str(port),
                     "--upstream", f"http://127.0.0.1:{upstream_port}"]))
                wait_for_port(port)
                floors[(stack, upstream_port)] = processes[-1], port
        gateway, gateway_port, keys = setup_gateway(work, json_port, sse_port)
        processes.append(gateway)

        bodies = {}
        for mode in ("plain", "stream"):
            body = {"model": "auto", "messages": [{"role": "user", "content": "Say hello"}]}
            if mode == "stream":
                body["stream"] = True
            bodies[mode] = work / f"{mode}.json"
            bodies[mode].write_text(json.dumps(body))

        def nginx_pids(process):
            return lambda: [process.pid, *children(process.pid)]

        path = "/v1/chat/completions"
        gateway_url = f"http://127.0.0.1:{gateway_port}{path}"
        targets = {
            mode: [
                Target("direct", f"http://127.0.0.1:{upstream_port}{path}", nginx_pids(upstream)),
                Target("nginx", f"http://127.0.0.1:{floor_port}{path}", nginx_pids(floor)),
                Target("gateway", gateway_url, lambda: [gateway.pid],
                       [f"Authorization: Bearer {keys[mode]}", "x-gateway-cache: off"]),
                Target("gateway+cache", gateway_url, lambda: [gateway.pid],
                       [f"Authorization: Bearer {keys[mode]}", "x-gateway-cache: on"]),
            ]
            for mode, upstream_port, floor_port in (("plain", json_port, floor_json),
                                                    ("stream", sse_port, floor_sse))
        }

        results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "cores": os.cpu_count(), "repeats": args.repeats,
                   "seconds": args.seconds, "runs": []}
        # Fixed rates: every target in turn, repeated, so that a burst of noise from the machine
        # lands in one repetition of one target rather than in all of one target's numbers; the
        # table takes the median of the repetitions' percentiles.
        repeats = {}
        for repeat in range(args.repeats):
            for mode, mode_targets in targets.items():
                for rate in rates:
                    for target in mode_targets:
                        print(f"-- {mode} {target.name} at {rate}/s ({repeat + 1}/{args.repeats})",
                              flush=True)
                        result = measured(
                            target, lambda: run_load(target, bodies[mode], rate, args.seconds))
                        repeats.setdefault((mode, target.name, rate), []).append(result)
        for (mode, name, rate), runs in repeats.items():
            results["runs"].append({"mode": mode, "target": name, "rate": rate,
                                    **median_of(runs), "repeats": runs})
        floor_targets = {
            mode: [Target(f"{stack} floor", f"http://127.0.0.1:{floors[(stack, port)][1]}{path}",
                          (lambda process: lambda: [process.pid])(floors[(stack, port)][0]))
                   for stack in ("hyper", "reqwest")]
            for mode, port in (("plain", json_port), ("stream", sse_port))
        }
        for peer in peers.start(work, TARGET_CORE, {"plain": json_port, "stream": sse_port},
                                [name for name in args.peers.split(",") if name]):
            processes.insert(0, peer.process)
            for mode, (headers, model) in peer.ask.items():
                body = work / f"{peer.name}-{mode}.json"
                body.write_text(json.dumps({**json.loads(bodies[mode].read_text()), "model": model}))
                floor_targets[mode].append(Target(
                    peer.name, peer.url, (lambda process: lambda: [process.pid, *children(process.pid)])(peer.process),
                    headers, body))
        for mode, mode_targets in targets.items():
            for target in [*mode_targets, *floor_targets[mode]]:
                print(f"-- {mode} {target.name} at maximum throughput", flush=True)
                result = measured(target, lambda: run_wrk(target, target.body or bodies[mode],
                                                          args.seconds, work))
                results["runs"].append({"mode": mode, "target": target.name, "rate": "max", **result})

        if args.soak_seconds:
            print(f"-- soak: gateway, plain, {rates[0]}/s for {args.soak_seconds} s", flush=True)
            samples = []
            done = threading.Event()

            def sample():
                while not done.wait(10):
                    samples.append(status_kib(gateway.pid, "VmRSS") / 1024)

            sampler = threading.Thread(target=sample)
            sampler.start()
            soak = run_load(targets["plain"][2], bodies["plain"], rates[0], args.soak_seconds)
            done.set()
            sampler.join()
            results["soak"] = {**soak, "rss_mib_every_10s": samples}
        metrics = subprocess.run(["curl", "-s", f"http://127.0.0.1:{gateway_port}/metrics"],
                                 capture_output=True, text=True).stdout
        results["gateway_metrics"] = [line for line in metrics.splitlines()
                                      if "overhead" in line and not line.startswith("#")]
    finally:
        # nginx stops gracefully on SIGQUIT; the gateway (started last) on SIGTERM.
        stop(processes, work, lambda process: signal.SIGTERM if process is processes[-1]
             else signal.SIGQUIT)
    write_results(Path(args.out), "proxy", results, report(results, rates))


def stop(processes, work, signal_for=lambda process: signal.SIGTERM):
    """Stops the benchmark's processes, last started first, and removes its work folder."""
    for process in reversed(processes):
        process.send_signal(signal_for(process))
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(work, ignore_errors=True)


def write_results(out, name, results, markdown):
    """bench/results/NAME.json (the raw numbers) and NAME.md (the table), printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    (out / f"{name}.md").write_text(markdown)
    print(markdown)


def report(results, rates):
    runs = results["runs"]

    def run(mode, target, rate):
        return next(r for r in runs if (r["mode"], r["target"], r["rate"]) == (mode, target, rate))

    lines = [f"# Proxy benchmark, {results['date']}", "",
             "Command: `scripts/bench.sh`. Targets on core 0, upstream and load generator on core 1. "
             f"Latency is counted from when each request was due (open loop), each fixed rate run "
             f"{results['repeats']} times for {results['seconds']} s with targets in turn, and the table "
             "shows the median of the runs' percentiles; *added* is over direct "
             "(the upstream itself) at the same rate. Plain: time to the last byte; streamed: time to "
             "the first byte (first SSE event) and to the last.", ""]
    for mode in ("plain", "stream"):
        metric = "last_byte_us" if mode == "plain" else "first_byte_us"
        lines += [f"## {'Plain' if mode == 'plain' else 'Streamed'}", "",
                  "| target | rate | p50 | p99 | added p50 | added p99 | "
                  + ("last byte p50 / p99 | " if mode == "stream" else "")
                  + "errors | CPU | peak RSS |",
                  "|---|---|---|---|---|---|" + ("---|" if mode == "stream" else "") + "---|---|---|"]
        for rate in rates:
            direct = run(mode, "direct", rate)
            for target in ("direct", "nginx", "gateway", "gateway+cache"):
                r = run(mode, target, rate)
                if r[metric] is None:
                    lines.append(f"| {target} | {rate}/s | – | – | – | – | "
                                 + ("– | " if mode == "stream" else "") + f"{r['errors']} | – | – |")
                    continue
                added50 = r[metric]["p50"] - direct[metric]["p50"]
                added99 = r[metric]["p99"] - direct[metric]["p99"]
                last = (f"{micros(r['last_byte_us']['p50'])} / {micros(r['last_byte_us']['p99'])} | "
                        if mode == "stream" else "")
                lines.append(
                    f"| {target} | {rate}/s | {micros(r[metric]['p50'])} | {micros(r[metric]['p99'])} | "
                    + (f"{micros(added50)} | {micros(added99)} | " if target != "direct" else "– | – | ")
                    + f"{last}{r['errors']} | {percent(r['cpu_percent'])} | {r['peak_rss_mib']:.1f} MiB |")
        lines += ["", "| target | max throughput | non-2xx | CPU | peak RSS |", "|---|---|---|---|---|"]
        for target in ("direct", "nginx", "hyper floor", "reqwest floor", "gateway", "gateway+cache",
                       "portkey", "litellm"):
            r = next((r for r in runs if (r["mode"], r["target"], r["rate"]) == (mode, target, "max")), None)
            if r is None:
                continue
            lines.append(f"| {target} | {r['requests_per_second']:,.0f} req/s | {r['non_2xx']} | "
                         f"{percent(r['cpu_percent'])} | {r['peak_rss_mib']:.1f} MiB |")
        lines.append("")

    lines += ["## Gateway against nginx", ""]
    for mode in ("plain", "stream"):
        metric = "last_byte_us" if mode == "plain" else "first_byte_us"
        for rate in rates:
            direct, floor = run(mode, "direct", rate), run(mode, "nginx", rate)
            for target in ("gateway", "gateway+cache"):
                ours = run(mode, target, rate)
                if ours[metric] is None or floor[metric] is None:
                    continue
                parts = []
                for q in ("p50", "p99"):
                    floor_added = floor[metric][q] - direct[metric][q]
                    our_added = ours[metric][q] - direct[metric][q]
                    ratio = our_added / floor_added if floor_added > 0 else float("inf")
                    parts.append(f"{q} added {micros(our_added)} vs {micros(floor_added)} (×{ratio:.1f})")
                lines.append(f"- {mode}, {target}, {rate}/s: " + "; ".join(parts))
        for target in ("hyper floor", "reqwest floor", "gateway", "gateway+cache"):
            ratio = (run(mode, target, "max")["requests_per_second"]
                     / run(mode, "nginx", "max")["requests_per_second"])
            lines.append(f"- {mode}, {target}: maximum throughput {100 * ratio:.0f} % of nginx's")
        ours = run(mode, "gateway", "max")["requests_per_second"]
        for peer in ("portkey", "litellm"):
            theirs = [r for r in runs if (r["mode"], r["target"], r["rate"]) == (mode, peer, "max")]
            if theirs and theirs[0]["requests_per_second"]:
                lines.append(f"- {mode}, gateway: maximum throughput "
                             f"{ours / theirs[0]['requests_per_second']:.1f}× {peer}'s")
    if "soak" in results:
        soak = results["soak"]
        rss = soak["rss_mib_every_10s"]
        lines += ["", f"## Soak: gateway, plain, {soak['rate']}/s for {soak['seconds']} s", "",
                  f"p50 {micros(soak['last_byte_us']['p50'])}, p99 {micros(soak['last_byte_us']['p99'])}, "
                  f"{soak['errors']} errors; RSS every 10 s (MiB): "
                  + ", ".join(f"{value:.1f}" for value in rss)
                  + (f"; first {rss[0]:.1f}, last {rss[-1]:.1f}, max {max(rss):.1f}" if rss else "")]
    lines += ["", "## The gateway's own histogram (`/metrics`)", "", "```",
              *results["gateway_metrics"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
