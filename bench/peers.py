"""The gateways a user would pick instead of ours, run beside it in the benchmarks: Portkey's
open-source gateway (npm `@portkey-ai/gateway`) and LiteLLM's proxy (PyPI `litellm[proxy]`),
installed by `scripts/install-peers.sh` (pinned versions; see there), one process each, pinned to
the target core, pointed at the benchmark's OpenAI-compatible upstream."""

import json
import os
import subprocess
import time
from pathlib import Path

from gateway_process import free_port, wait_for_port

BENCH_DIR = Path(os.environ.get("BENCH_DIR", Path.home() / ".cache/llm-gateway-bench"))
NAMES = ("portkey", "litellm")
LITELLM_KEY = "sk-bench-litellm-0123456789abcdef0123456789"


class Peer:
    """A started peer: `ask[mode]` is (headers, model) to reach the upstream of that mode."""

    def __init__(self, name, process, url, ask):
        self.name, self.process, self.url, self.ask = name, process, url, ask


def start(work, core, upstreams, names):
    """Starts the named peers (installed) with a way to each upstream (`{mode: port}`), waits
    until each answers, warms each with a few requests (LiteLLM's first costs half a second), and
    returns them."""
    started = []
    for name in names:
        port = free_port()
        if name == "portkey":
            script = BENCH_DIR / "portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
            # `--port=N` with the `=`: `--port N` is ignored. It logs nothing per request headless.
            process = subprocess.Popen(["taskset", "-c", core, "node", str(script), f"--port={port}",
                                        "--headless"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            peer = Peer(name, process, f"http://127.0.0.1:{port}/v1/chat/completions",
                        {mode: (["x-portkey-provider: openai",
                                 f"x-portkey-custom-host: http://127.0.0.1:{upstream}/v1",
                                 "Authorization: Bearer sk-bench-0123456789"], "gpt-4o-mini")
                         for mode, upstream in upstreams.items()})
        elif name == "litellm":
            config = work / "litellm.yaml"
            # One model name per upstream.
            models = "".join(f"""
  - model_name: gpt-4o-mini-{mode}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-bench-0123456789""" for mode, upstream in upstreams.items())
            config.write_text(f"""model_list:{models}
litellm_settings:
  drop_params: true
general_settings:
  master_key: {LITELLM_KEY}
""")
            # Local copies of what it would otherwise fetch at start; no per-request access log.
            env = {**os.environ, "LITELLM_LOG": "ERROR",
                   **{f"LITELLM_LOCAL_{what}": "True" for what in (
                       "MODEL_COST_MAP", "ANTHROPIC_BETA_HEADERS", "POLICY_TEMPLATES",
                       "AUTOROUTER_PRESETS", "BLOG_POSTS")}}
            process = subprocess.Popen(
                ["taskset", "-c", core, str(BENCH_DIR / "litellm-venv/bin/litellm"), "--config",
                 str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peer = Peer(name, process, f"http://127.0.0.1:{port}/v1/chat/completions",
                        {mode: ([f"Authorization: Bearer {LITELLM_KEY}"], f"gpt-4o-mini-{mode}")
                         for mode in upstreams})
        else:
            raise ValueError(f"unknown peer {name}")
        wait_for_port(port, timeout=120)
        warm(peer)
        started.append(peer)
    return started


def warm(peer):
    for mode, (headers, model) in peer.ask.items():
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
                "stream": mode == "stream"}
        for _ in range(5):
            args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", peer.url,
                    "-H", "content-type: application/json", "-d", json.dumps(body)]
            for header in headers:
                args += ["-H", header]
            status = subprocess.run(args, capture_output=True, text=True).stdout
            if status != "200":
                time.sleep(1)
        if status != "200":
            raise RuntimeError(f"{peer.name} answers {status} to a {mode} request")
