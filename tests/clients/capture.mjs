// Re-captures the request shapes in fixtures/: runs the pinned Claude Code and Codex CLI against
// recorder.mjs and writes what they sent. Not part of the test command (the fixtures are checked
// in); run it after changing the pinned versions:
//
//   cd tests/clients && node capture.mjs
//
// Keys are removed (headers `x-api-key` / `authorization` become "<redacted>", and the fake key is
// replaced wherever else it might appear); everything else is kept verbatim.
import { mkdirSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startRecorder } from "./recorder.mjs";
import { here, runClaude, runCodex } from "./clients.mjs";

const KEY = "gw_capture_0123456789abcdef";
const scrub = (value) => JSON.parse(JSON.stringify(value).replaceAll(KEY, "<redacted>"));
const write = (path, value) => writeFileSync(path, JSON.stringify(scrub(value), null, 2) + "\n");
const clientVersion = (name) => JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;

async function capture(label, runClient) {
  const recorder = await startRecorder({ text: "Hello from the recorder." });
  try {
    const result = await runClient(recorder.url);
    if (result.code !== 0) {
      console.error(`${label}: exit ${result.code} ${result.signal ?? ""}\n${result.stdout}\n${result.stderr}`);
    }
    rmSync(result.box.dir, { recursive: true, force: true });
    return { label, exit: result.code, stderr: result.stderr, requests: [...recorder.requests] };
  } finally {
    await recorder.close();
  }
}

function save(dir, captures, bodyName) {
  mkdirSync(dir, { recursive: true });
  const index = [];
  for (const { label, exit, requests, keepBodies = true } of captures) {
    const turns = requests.filter((r) => r.method === "POST" && r.body && typeof r.body === "object");
    if (keepBodies) turns.forEach((request, n) => write(join(dir, bodyName(label, n, request)), request.body));
    index.push({
      capture: label,
      exit,
      requests: requests.map((r, n) => ({
        method: r.method,
        path: r.path,
        headers: r.headers,
        body_file: keepBodies && turns.includes(r) ? bodyName(label, turns.indexOf(r), r) : null,
      })),
    });
  }
  write(join(dir, "requests.json"), index);
}

const claude = [];
claude.push(await capture("default", (url) => runClaude({ baseUrl: url, apiKey: KEY })));
claude.push(await capture("auto", (url) => runClaude({ baseUrl: url, apiKey: KEY, model: "auto" })));
claude.push(await capture("claude-sonnet-4-0", (url) => runClaude({ baseUrl: url, apiKey: KEY, model: "claude-sonnet-4-0" })));
claude.push(await capture("openai-gpt-4o-mini", (url) => runClaude({ baseUrl: url, apiKey: KEY, model: "openai/gpt-4o-mini" })));
// Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (telemetry and error reports stay off): Claude
// Code then checks the base URL first (HEAD /api/hello).
// Its body only differs from "auto" by ids, so it is not kept twice.
claude.push({
  ...(await capture("auto-essential-traffic-on", (url) =>
    runClaude({ baseUrl: url, apiKey: KEY, model: "auto", extraEnv: { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: undefined } }),
  )),
  keepBodies: false,
});
save(join(here, "fixtures/claude-code"), claude, (label, n) =>
  label === "default" ? (n === 0 ? "main-turn.json" : `main-turn-${n}.json`) : `main-turn-${label}${n ? `-${n}` : ""}.json`,
);

const codex = [];
codex.push(await capture("default", (url) => runCodex({ baseUrl: `${url}/v1`, apiKey: KEY })));
codex.push(await capture("auto", (url) => runCodex({ baseUrl: `${url}/v1`, apiKey: KEY, model: "auto" })));
codex.push(await capture("gpt-4o-mini", (url) => runCodex({ baseUrl: `${url}/v1`, apiKey: KEY, model: "gpt-4o-mini" })));
save(join(here, "fixtures/codex"), codex, (label, n) => `turn-${label}${n ? `-${n}` : ""}.json`);

console.log(
  `captured with @anthropic-ai/claude-code ${clientVersion("@anthropic-ai/claude-code")} and @openai/codex ${clientVersion("@openai/codex")}`,
);
for (const { label, exit, requests } of [...claude.map((c) => ({ ...c, label: `claude ${c.label}` })), ...codex.map((c) => ({ ...c, label: `codex ${c.label}` }))]) {
  console.log(`${label}: exit ${exit}; ${requests.map((r) => `${r.method} ${r.path}`).join(", ")}`);
}
