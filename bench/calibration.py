#!/usr/bin/env python3
"""Calibration to a quality target, through the real pipeline (issue 32).

Replays the labelled prompts of ../shared/router-eval/dev.jsonl through the gateway binary (`auto`,
the shipped semantic router), with quality checks at 5 % sampling and a 95 % target, against the
fake providers whose judge grades by the rows' `weak_ok` labels: a served answer below the strong
tier is adequate exactly when its prompt is labelled `weak_ok`. A second account on the same server
gets the same traffic with checks but no target (thresholds as shipped): the control.

Reports the realised adequacy of the traffic (an answer is adequate when routed to the strong tier
or `weak_ok`) per window of requests, after calibration (the requests after the first 2,000)
against the 95 % target, the saving it keeps (list prices of the served models against the
baseline, gpt-4o, at the same tokens), and the threshold's moves.

    python3 bench/calibration.py [--requests 3000] [--sample-rate 0.05] [--target 0.95]

Uses the binaries `scripts/build.sh --for-tests` leaves in target/debug (or --release-binaries).
"""

import argparse
import concurrent.futures
import json
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from gateway_process import PASSWORD, ROOT, binaries, cli_of, gateway_env, read_line_starting

LABELS = ROOT.parent / "shared" / "router-eval" / "dev.jsonl"
PROVIDER_KEY = "sk-calibration-0123456789"


def prices():
    catalog = json.loads((ROOT / "gateway" / "catalog" / "models.json").read_text())
    return {f"{m['provider']}/{m['model']}": (m["input_per_mtok"], m["output_per_mtok"]) for m in catalog["models"]}


def ask(base, key, messages):
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=json.dumps({"model": "auto", "messages": messages}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
        return response.headers["x-gateway-tier"], response.headers["x-gateway-model"], body.get("usage", {})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--calibrate-for", type=int, default=2000)
    parser.add_argument("--sample-rate", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--window", type=int, default=250)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--release-binaries", action="store_true")
    args = parser.parse_args()

    gateway_bin, fake_bin = binaries(args.release_binaries)
    rows = [row for row in map(json.loads, LABELS.read_text().splitlines()) if row["weak_ok"] is not None]
    work = Path(tempfile.mkdtemp(prefix="gw-calibration-"))
    env = gateway_env(work, f"sqlite://{work}/gateway.db?mode=rwc")
    fake = subprocess.Popen([str(fake_bin), "--accept-key", PROVIDER_KEY, "--judge-labels", str(LABELS)],
                            stdout=subprocess.PIPE, text=True)
    fake_url = read_line_starting(fake, "openai=")

    cli = cli_of(gateway_bin, env)

    keys = {}
    for account, target in (("calibrated", args.target), ("control", None)):
        email = f"{account}@example.com"
        cli("user", "create", "--email", email, "--plan", "enterprise", stdin=PASSWORD + "\n")
        cli("provider", "add", "--email", email, "--provider", "openai", "--base-url", fake_url,
            stdin=PROVIDER_KEY + "\n")
        checks = {"sample_rate": args.sample_rate, "monthly_budget_usd": 1000}
        if target is not None:
            checks["target_adequacy"] = target
        cli("routing", "set", "--email", email, "--json", json.dumps({"quality_checks": checks}))
        keys[account] = cli("key", "create", "--email", email, "--name", account)
    server = subprocess.Popen([str(gateway_bin), "serve"], env=env, stdout=subprocess.PIPE, text=True)
    base = read_line_starting(server, "LLM Gateway is running at ")
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()

    rng = random.Random(args.seed)
    order = []
    while len(order) < args.requests:
        batch = rows[:]
        rng.shuffle(batch)
        order.extend(batch)
    order = order[:args.requests]
    price = prices()
    started = time.monotonic()
    results = {"calibrated": [], "control": []}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for account in results:
            futures = [pool.submit(ask, base, keys[account], row["messages"]) for row in order]
            for row, future in zip(order, futures):
                tier, model, usage = future.result()
                prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
                cost = lambda name: (price[name][0] * prompt + price[name][1] * completion) / 1e6
                results[account].append({
                    "adequate": tier == "strong" or row["weak_ok"], "strong": tier == "strong",
                    "cost": cost(model) if model in price else 0.0, "baseline_cost": cost("openai/gpt-4o"),
                })
    elapsed = time.monotonic() - started
    time.sleep(2)  # the last verdicts and moves
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    fake.terminate()

    db = sqlite3.connect(work / "gateway.db")
    account_ids = dict(db.execute("SELECT email, id FROM accounts").fetchall())
    moves = db.execute(
        "SELECT changed_at, old_threshold, new_threshold, judged, adequacy, cheap_share FROM threshold_changes "
        "WHERE account_id = ? ORDER BY changed_at", (account_ids["calibrated@example.com"],)).fetchall()
    verdicts = dict(db.execute("SELECT account_id, COUNT(*) FROM quality_verdicts GROUP BY account_id").fetchall())

    def summary(items):
        n = len(items)
        if n == 0:
            return {}
        cost, base_cost = sum(i["cost"] for i in items), sum(i["baseline_cost"] for i in items)
        return {"requests": n, "adequacy": round(sum(i["adequate"] for i in items) / n, 4),
                "strong_share": round(sum(i["strong"] for i in items) / n, 4),
                "saving": round(1 - cost / base_cost, 4) if base_cost else None}

    report = {"requests_per_account": args.requests, "sample_rate": args.sample_rate, "target": args.target,
              "seconds": round(elapsed, 1)}
    for account, items in results.items():
        report[account] = {
            "windows": [summary(items[i:i + args.window]) for i in range(0, len(items), args.window)],
            "first_2000": summary(items[:args.calibrate_for]),
            "after_calibration": summary(items[args.calibrate_for:]),
            "verdicts": verdicts.get(account_ids[f"{account}@example.com"], 0),
        }
    report["threshold_moves"] = [
        {"from": round(old, 4), "to": round(new, 4), "judged": judged, "estimated_adequacy": round(est, 4),
         "cheap_share": round(share, 4)} for _, old, new, judged, est, share in moves]
    after = report["calibrated"]["after_calibration"]
    report["goal"] = f"after calibration within ±2 points of {args.target:.0%}"
    report["met"] = bool(after) and abs(after["adequacy"] - args.target) <= 0.02
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
