"""Starts the real gateway binary on a fresh SQLite database, with the fake OpenAI server as its
provider, and sets up an account, a provider key and a gateway key through the admin CLI."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_BIN = os.environ.get("LLM_GATEWAY_BIN", str(ROOT / "target/debug/llm-gateway"))
FAKE_BIN = os.environ.get("FAKE_PROVIDERS_BIN", str(ROOT / "target/debug/fake-providers"))
PROVIDER_KEY = "sk-python-sdk-test-0123456789"


def _read_line_starting(process, prefix):
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()[len(prefix):]
    raise RuntimeError(f"{prefix!r} never printed; exit code {process.poll()}")


@pytest.fixture(scope="session")
def gateway():
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite://{data_dir}/gateway.db?mode=rwc",
            "GATEWAY_DATA_DIR": data_dir,
            "GATEWAY_ADDR": "127.0.0.1:0",
            "RUST_LOG": "warn",
            # The fake provider runs on this machine: a private address the SSRF guard refuses.
            "ALLOWED_PRIVATE_UPSTREAMS": "127.0.0.1",
        }
        env.pop("GATEWAY_MASTER_KEY", None)
        fake = subprocess.Popen(
            [FAKE_BIN, "--accept-key", PROVIDER_KEY], stdout=subprocess.PIPE, text=True
        )
        server = None
        try:
            fake_url = _read_line_starting(fake, "openai=")

            def cli(*args, stdin=None):
                return subprocess.run(
                    [GATEWAY_BIN, *args], input=stdin, env=env, text=True, capture_output=True, check=True
                ).stdout

            cli("user", "create", "--email", "sdk@example.com", "--plan", "pro", stdin="a sturdy passphrase 42\n")
            cli("provider", "add", "--email", "sdk@example.com", "--provider", "openai",
                "--base-url", fake_url, stdin=PROVIDER_KEY + "\n")
            key = cli("key", "create", "--email", "sdk@example.com", "--name", "python").strip()

            server = subprocess.Popen([GATEWAY_BIN, "serve"], env=env, stdout=subprocess.PIPE, text=True)
            base = _read_line_starting(server, "LLM Gateway is running at ")
            yield {"base_url": f"{base}/v1", "key": key, "cli": cli}
        finally:
            for process in (server, fake):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=10)
