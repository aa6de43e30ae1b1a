"""Starts the real gateway binary on a fresh SQLite database, with the fake providers as its
upstreams, and sets up accounts, provider keys and gateway keys through the admin CLI.

`gateway` is the first account, whose only provider is OpenAI (`sdk@example.com`); `gateway["keys"]`
holds a gateway key for each of the accounts below, by name, for tests that run on several."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_BIN = os.environ.get("LLM_GATEWAY_BIN", str(ROOT / "target/debug/llm-gateway"))
FAKE_BIN = os.environ.get("FAKE_PROVIDERS_BIN", str(ROOT / "target/debug/fake-providers"))
PROVIDER_KEY = "sk-python-sdk-test-0123456789"
# Account name → (e-mail, the providers it has keys for). The first is `gateway`'s own.
ACCOUNTS = {
    "openai": ("sdk@example.com", ("openai",)),
    "anthropic": ("anthropic-only@example.com", ("anthropic",)),
    "both": ("both@example.com", ("openai", "anthropic")),
}


def _read_line_starting(process, prefix):
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()[len(prefix):]
    raise RuntimeError(f"{prefix!r} never printed; exit code {process.poll()}")


def _read_base_urls(process, providers):
    """The fake prints one `<provider>=<base url>` line per provider, `openai=` first."""
    urls = {}
    for line in process.stdout:
        name, _, url = line.strip().partition("=")
        urls[name] = url
        if all(provider in urls for provider in providers):
            return urls
    raise RuntimeError(f"the fake never printed all of {providers}; exit code {process.poll()}")


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
            fake_urls = _read_base_urls(fake, ("openai", "anthropic"))

            def cli(*args, stdin=None):
                return subprocess.run(
                    [GATEWAY_BIN, *args], input=stdin, env=env, text=True, capture_output=True, check=True
                ).stdout

            keys = {}
            for name, (email, providers) in ACCOUNTS.items():
                cli("user", "create", "--email", email, "--plan", "pro", stdin="a sturdy passphrase 42\n")
                for provider in providers:
                    cli("provider", "add", "--email", email, "--provider", provider,
                        "--base-url", fake_urls[provider], stdin=PROVIDER_KEY + "\n")
                keys[name] = cli("key", "create", "--email", email, "--name", "python").strip()

            server = subprocess.Popen([GATEWAY_BIN, "serve"], env=env, stdout=subprocess.PIPE, text=True)
            base = _read_line_starting(server, "LLM Gateway is running at ")
            yield {"base_url": f"{base}/v1", "key": keys["openai"], "keys": keys, "cli": cli}
        finally:
            for process in (server, fake):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=10)
