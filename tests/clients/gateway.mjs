// Starts the real gateway binary on a fresh SQLite database with the fake providers
// (target/debug/fake-providers), and sets up one account per entry of `accounts` through the admin
// CLI (plan pro, the providers given, one gw_ key), as tests/python/conftest.py does.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const root = resolve(import.meta.dirname, "../..");
const gatewayBin = process.env.LLM_GATEWAY_BIN ?? join(root, "target/debug/llm-gateway");
const fakeBin = process.env.FAKE_PROVIDERS_BIN ?? join(root, "target/debug/fake-providers");
const providerKey = "sk-clients-test-0123456789";

const fixture = (path) => JSON.parse(readFileSync(join(root, "testkit/fixtures", path), "utf8"));
/** The fake providers' answers, by provider. */
export const TEXT_OF = {
  openai: fixture("openai/chat_completion.json").choices[0].message.content,
  anthropic: fixture("anthropic/message.json").content[0].text,
};

/**
 * `accounts`: `{ name: { providers: ["openai", …] } }`. Resolves with `{ url, keys, stop }`: the
 * gateway's root URL (no /v1), each account's gw_ key by name, and `stop()`.
 */
export async function startGateway(accounts, { label = "clients" } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `gw-${label}-`));
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${dataDir}/gateway.db?mode=rwc`,
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_ADDR: "127.0.0.1:0",
    RUST_LOG: "warn",
    // The fake providers run on this machine: a private address the SSRF guard refuses.
    ALLOWED_PRIVATE_UPSTREAMS: "127.0.0.1",
  };
  delete env.GATEWAY_MASTER_KEY;
  const processes = [];

  /** Starts a process; resolves with the values of the stdout lines starting with each prefix. */
  function startAndRead(command, args, prefixes, timeoutMs = 60_000) {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    processes.push(child);
    return new Promise((resolvePromise, reject) => {
      const found = {};
      const timer = setTimeout(() => reject(new Error(`${command} printed no ${prefixes.join(", ")} in ${timeoutMs} ms`)), timeoutMs);
      createInterface({ input: child.stdout }).on("line", (line) => {
        for (const prefix of prefixes) if (line.startsWith(prefix)) found[prefix] = line.slice(prefix.length).trim();
        if (prefixes.every((p) => p in found)) {
          clearTimeout(timer);
          resolvePromise(found);
        }
      });
      child.on("exit", (code) => reject(new Error(`${command} exited with ${code} before printing ${prefixes.join(", ")}`)));
    });
  }

  async function stop() {
    // Let the gateway shut down gracefully (it writes queued usage) before its folder goes.
    await Promise.all(
      processes.map(
        (child) =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.on("exit", () => (clearTimeout(force), done()));
            child.kill("SIGTERM");
          }),
      ),
    );
    rmSync(dataDir, { recursive: true, force: true });
  }

  try {
    const cli = (args, input) => execFileSync(gatewayBin, args, { env, input: input ?? "", timeout: 30_000 }).toString().trim();
    const fakes = await startAndRead(fakeBin, ["--accept-key", providerKey], ["openai=", "anthropic="]);
    const keys = {};
    for (const [name, { providers }] of Object.entries(accounts)) {
      const email = `${label}-${name}@example.com`;
      cli(["user", "create", "--email", email, "--plan", "pro"], "a sturdy passphrase 42\n");
      for (const provider of providers) {
        cli(["provider", "add", "--email", email, "--provider", provider, "--base-url", fakes[`${provider}=`]], `${providerKey}\n`);
      }
      keys[name] = cli(["key", "create", "--email", email, "--name", label]);
    }
    const started = await startAndRead(gatewayBin, ["serve"], ["LLM Gateway is running at "]);
    return { url: started["LLM Gateway is running at "], keys, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
