// How the tests and the capture script run the two agents: the installed binaries, a private HOME
// (no user configuration leaks in), telemetry and update checks off, and a hard timeout.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const here = resolve(import.meta.dirname);
export const claudeBin = process.env.CLAUDE_CODE_BIN ?? join(here, "node_modules/.bin/claude");
export const codexBin = process.env.CODEX_BIN ?? join(here, "node_modules/.bin/codex");

/** Environment variables that switch off telemetry, error reporting and update checks. */
export const quietEnv = {
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_BUG_COMMAND: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DO_NOT_TRACK: "1",
  NO_UPDATE_NOTIFIER: "1",
};

/** The parts of this process's environment a client may see (no keys, no user configuration). */
function baseEnv(home) {
  return { HOME: home, PATH: process.env.PATH, LANG: "C.UTF-8", TERM: "dumb", TMPDIR: tmpdir(), ...quietEnv };
}

/**
 * Runs a command with a hard timeout; resolves with `{ code, signal, stdout, stderr, timedOut }`.
 * The child gets its own process group so that a timeout kills everything it started.
 */
export function run(command, args, { env, cwd, timeoutMs = 120_000 } = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A fresh home and working directory for one client run. */
export function sandbox(name) {
  const dir = mkdtempSync(join(tmpdir(), `gw-${name}-`));
  const home = join(dir, "home");
  const work = join(dir, "work");
  mkdirSync(home);
  mkdirSync(work);
  return { dir, home, work };
}

/**
 * `claude -p PROMPT --output-format json [--model MODEL]` against `baseUrl` (the root URL:
 * Claude Code adds /v1/messages itself) with `apiKey`.
 */
export async function runClaude({ baseUrl, apiKey, model, prompt = "Say hello", timeoutMs = 120_000, extraEnv = {} }) {
  const box = sandbox("claude");
  const env = { ...baseEnv(box.home), ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: apiKey, ...extraEnv };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const args = ["-p", prompt, "--output-format", "json"];
  if (model) args.push("--model", model);
  const result = await run(claudeBin, args, { env, cwd: box.work, timeoutMs });
  let json = null;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    /* left null: the assertion shows stdout */
  }
  return { ...result, json, box };
}

/**
 * `codex exec --skip-git-repo-check PROMPT` with a custom provider (Responses API) at
 * `baseUrl` (ending in /v1), its key in GATEWAY_API_KEY, in a fresh CODEX_HOME.
 */
export async function runCodex({ baseUrl, apiKey, model, prompt = "Say hello", timeoutMs = 120_000 }) {
  const box = sandbox("codex");
  const codexHome = join(box.home, ".codex");
  mkdirSync(codexHome);
  writeFileSync(
    join(codexHome, "config.toml"),
    [
      `model_provider = "gateway"`,
      ...(model ? [`model = ${JSON.stringify(model)}`] : []),
      `check_for_update_on_startup = false`,
      ``,
      `[analytics]`,
      `enabled = false`,
      ``,
      `[feedback]`,
      `enabled = false`,
      ``,
      `[model_providers.gateway]`,
      `name = "LLM Gateway"`,
      `base_url = ${JSON.stringify(baseUrl)}`,
      `env_key = "GATEWAY_API_KEY"`,
      `wire_api = "responses"`,
      ``,
    ].join("\n"),
  );
  const env = { ...baseEnv(box.home), CODEX_HOME: codexHome, GATEWAY_API_KEY: apiKey };
  const result = await run(codexBin, ["exec", "--skip-git-repo-check", prompt], { env, cwd: box.work, timeoutMs });
  return { ...result, box };
}
