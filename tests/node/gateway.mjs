// Starts the real gateway binary on a fresh SQLite database with the fake providers as its
// upstreams, and sets up one account (its provider keys and a gateway key) through the admin CLI.
// Used by the SDK test files; each runs in its own process with its own gateway.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const root = resolve(import.meta.dirname, "../..");
const gatewayBin = process.env.LLM_GATEWAY_BIN ?? join(root, "target/debug/llm-gateway");
const fakeBin = process.env.FAKE_PROVIDERS_BIN ?? join(root, "target/debug/fake-providers");

/**
 * Starts the fake providers and the gateway with one account (`email`, `keyName`, `providers`:
 * those it has keys for, all accepted by the fake with `providerKey`), or several (`accounts`, a
 * list of such objects). Resolves with the gateway's base URL (without /v1), the first account's
 * `gw_` key, every account's key (`keys`, in order), the CLI, and `stop()`.
 */
export async function startGateway({ providerKey, accounts, label = "node", ...account }) {
  accounts ??= [account];
  const dataDir = mkdtempSync(join(tmpdir(), `gw-${label}-`));
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${dataDir}/gateway.db?mode=rwc`,
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_ADDR: "127.0.0.1:0",
    RUST_LOG: "warn",
    // The fake provider runs on this machine: a private address the SSRF guard refuses.
    ALLOWED_PRIVATE_UPSTREAMS: "127.0.0.1",
  };
  delete env.GATEWAY_MASTER_KEY;
  const processes = [];

  /** Starts a process and resolves with the rest of each stdout line starting with a prefix. */
  function startAndRead(command, args, prefixes, timeoutMs = 60_000) {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    processes.push(child);
    return new Promise((resolvePromise, reject) => {
      const found = {};
      const timer = setTimeout(() => reject(new Error(`${command} printed no ${prefixes.join(", ")} in ${timeoutMs} ms`)), timeoutMs);
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        const prefix = prefixes.find((candidate) => line.startsWith(candidate));
        if (prefix === undefined) return;
        found[prefix] = line.slice(prefix.length).trim();
        if (prefixes.every((candidate) => candidate in found)) {
          clearTimeout(timer);
          resolvePromise(found);
        }
      });
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`${command} exited with ${code} before printing ${prefixes}`)));
    });
  }

  const cli = (args, input) => execFileSync(gatewayBin, args, { env, input: input ?? "", timeout: 30_000 }).toString().trim();

  async function stop() {
    // Let the gateway shut down gracefully (it writes queued usage) before its folder goes.
    await Promise.all(
      processes.map(
        (child) =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return done();
            const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.on("exit", () => (clearTimeout(force), done()));
            child.kill("SIGTERM");
          }),
      ),
    );
    rmSync(dataDir, { recursive: true, force: true });
  }

  try {
    // The fake prints one `<provider>=<base url>` line per provider, `openai=` first.
    const providers = [...new Set(accounts.flatMap((entry) => entry.providers ?? ["openai"]))];
    const urls = await startAndRead(fakeBin, ["--accept-key", providerKey], providers.map((p) => `${p}=`));
    const keys = accounts.map(({ email, keyName, providers = ["openai"] }) => {
      cli(["user", "create", "--email", email, "--plan", "pro"], "a sturdy passphrase 42\n");
      for (const provider of providers) {
        cli(["provider", "add", "--email", email, "--provider", provider, "--base-url", urls[`${provider}=`]], `${providerKey}\n`);
      }
      return cli(["key", "create", "--email", email, "--name", keyName]);
    });
    const { "LLM Gateway is running at ": base } = await startAndRead(gatewayBin, ["serve"], ["LLM Gateway is running at "]);
    return { base, key: keys[0], keys, cli, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
