"""What the benchmarks share: the debug (or release) binaries, a gateway environment on a fresh
data folder, the admin CLI, reading what a started process prints, and free ports."""

import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a sturdy passphrase 42"


def binaries(release=False):
    """The gateway binary and the fake providers (the fake is always the debug one: its speed is
    not measured)."""
    profile = "release" if release else "debug"
    return ROOT / "target" / profile / "llm-gateway", ROOT / "target" / "debug" / "fake-providers"


def gateway_env(work, database_url):
    """The gateway's environment: the given database, `work` as its data folder, any free port,
    the fakes on this machine allowed, and no per-key valves (a benchmark is one busy key)."""
    env = {**os.environ, "DATABASE_URL": database_url, "GATEWAY_DATA_DIR": str(work),
           "GATEWAY_ADDR": "127.0.0.1:0", "RUST_LOG": "warn", "ALLOWED_PRIVATE_UPSTREAMS": "127.0.0.1",
           "KEY_REQUESTS_PER_SECOND": "0", "KEY_CONCURRENT_STREAMS": "0"}
    for name in ("GATEWAY_MASTER_KEY", "REDIS_URL", "GATEWAY_CONFIG"):
        env.pop(name, None)
    return env


def cli_of(gateway_bin, env):
    """The admin CLI: `cli("user", "create", ..., stdin=...)` returns its output."""
    def cli(*args, stdin=None):
        return subprocess.run([str(gateway_bin), *args], input=stdin, env=env, text=True,
                              capture_output=True, check=True).stdout.strip()
    return cli


def read_line_starting(process, prefix):
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()[len(prefix):]
    raise RuntimeError(f"{prefix!r} never printed")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")
