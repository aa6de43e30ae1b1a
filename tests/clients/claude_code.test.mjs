// Claude Code (the real CLI, pinned in package.json) against the real gateway binary, on three
// accounts: OpenAI only, Anthropic only, and both, with the fakes of target/debug/fake-providers as
// the providers (as strict as the real APIs for real model names: testkit/src/strict.rs), so a
// request the gateway routes elsewhere than Claude Code wrote it for must have been adapted to the
// model that serves it. Then the captured Claude Code requests (fixtures/claude-code/) are
// replayed on /v1/messages, whole and streamed, with the model set to `auto` or pinned.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { claudeBin, quietEnv, run, runClaude, sandbox } from "./clients.mjs";
import { startGateway, TEXT_OF } from "./gateway.mjs";

const here = resolve(import.meta.dirname);

const captured = (name) => JSON.parse(readFileSync(join(here, "fixtures/claude-code", name), "utf8"));
const capturedRequests = captured("requests.json");
/** The headers Claude Code sent with a captured body (keys removed; the test adds its own). */
function capturedHeaders(bodyFile) {
  for (const capture of capturedRequests) {
    const request = capture.requests.find((r) => r.body_file === bodyFile);
    if (request) {
      const { "x-api-key": _key, host: _host, "content-length": _length, connection: _c, "accept-encoding": _e, ...headers } = request.headers;
      return { path: request.path, headers };
    }
  }
  throw new Error(`no captured request for ${bodyFile}`);
}

// Each account: its providers and the models it may pin ("" is Claude Code's own default model).
const ACCOUNTS = {
  openai: { providers: ["openai"], pinned: ["openai/gpt-4o-mini"] },
  anthropic: { providers: ["anthropic"], pinned: ["claude-sonnet-4-0", ""] },
  both: { providers: ["anthropic", "openai"], pinned: ["claude-sonnet-4-0", "openai/gpt-4o-mini", ""] },
};
/** The provider a model must be served by (null for `auto`: any of the account's). Claude Code's
 * default model (no `--model`) is a Claude model. */
const providerOf = (model) =>
  model === "auto" ? null : model.startsWith("openai/") || model.startsWith("gpt-") ? "openai" : "anthropic";

let gateway;
let gatewayUrl;

before(async () => {
  gateway = await startGateway(ACCOUNTS, { label: "claude-code" });
  gatewayUrl = gateway.url;
  for (const name of Object.keys(ACCOUNTS)) ACCOUNTS[name].key = gateway.keys[name];
}, { timeout: 120_000 });

after(() => gateway?.stop(), { timeout: 30_000 });

function expectedTexts(account, model) {
  const provider = model ? providerOf(model) : null;
  const providers = provider ? [provider] : ACCOUNTS[account].providers;
  return providers.map((p) => TEXT_OF[p]);
}

/** Parses an Anthropic event stream and checks its grammar; returns the text and the events. */
function parseAnthropicStream(raw) {
  const events = raw
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const event = block.match(/^event: ?(.*)$/m)?.[1];
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      return { event, data: JSON.parse(data) };
    });
  const problems = [];
  const names = events.map((e) => e.event);
  for (const { event, data } of events) if (event !== data.type) problems.push(`event ${event} carries data.type ${data.type}`);
  const error = events.find((e) => e.event === "error");
  if (error) problems.push(`error event: ${JSON.stringify(error.data)}`);
  const meaningful = names.filter((n) => n !== "ping");
  if (meaningful[0] !== "message_start") problems.push(`first event is ${meaningful[0]}, not message_start`);
  if (meaningful.at(-1) !== "message_stop") problems.push(`last event is ${meaningful.at(-1)}, not message_stop`);
  if (!names.includes("message_delta")) problems.push("no message_delta");
  const open = new Set();
  let text = "";
  for (const { event, data } of events) {
    if (event === "content_block_start") {
      if (open.has(data.index)) problems.push(`block ${data.index} started twice`);
      open.add(data.index);
    } else if (event === "content_block_delta") {
      if (!open.has(data.index)) problems.push(`delta for block ${data.index}, which is not open`);
      if (data.delta.type === "text_delta") text += data.delta.text;
    } else if (event === "content_block_stop") {
      if (!open.delete(data.index)) problems.push(`stop for block ${data.index}, which is not open`);
    }
  }
  if (open.size) problems.push(`blocks never stopped: ${[...open]}`);
  const start = events.find((e) => e.event === "message_start")?.data.message;
  if (start && (start.type !== "message" || start.role !== "assistant")) problems.push(`message_start.message: ${JSON.stringify(start)}`);
  const delta = events.find((e) => e.event === "message_delta")?.data;
  if (delta && !delta.delta?.stop_reason) problems.push(`message_delta without stop_reason: ${JSON.stringify(delta)}`);
  return { text, names, problems };
}

const gatewayHeaders = (response) =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("x-gateway-")));

const CLAUDE_TIMEOUT_MS = 90_000;

test("the pinned Claude Code runs here, offline", async () => {
  const box = sandbox("claude-version");
  const result = await run(claudeBin, ["--version"], { env: { PATH: process.env.PATH, HOME: box.home, ...quietEnv }, timeoutMs: 30_000 });
  rmSync(box.dir, { recursive: true, force: true });
  assert.equal(result.code, 0, result.stderr);
  const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).devDependencies["@anthropic-ai/claude-code"];
  assert.match(result.stdout, new RegExp(`^${pinned.replaceAll(".", "\\.")} \\(Claude Code\\)`));
});

test("HEAD / is answered as GET / is, without a body (clients check the base URL with it)", async () => {
  const head = await fetch(`${gatewayUrl}/`, { method: "HEAD", redirect: "manual", signal: AbortSignal.timeout(10_000) });
  const get = await fetch(`${gatewayUrl}/`, { redirect: "manual", signal: AbortSignal.timeout(10_000) });
  assert.equal(head.status, get.status);
  assert.equal(head.status, 303, `HEAD / answered ${head.status}`);
  assert.equal(head.headers.get("location"), get.headers.get("location"));
  // Followed, it ends on the log-in page.
  const followed = await fetch(`${gatewayUrl}/`, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
  assert.equal(followed.status, 200);
  assert.equal((await followed.arrayBuffer()).byteLength, 0);
});

for (const [account, { pinned }] of Object.entries(ACCOUNTS)) {
  describe(`${account} account`, () => {
    for (const model of ["auto", ...pinned]) {
      const flag = model ? `--model ${model}` : "its default model";
      test(`claude -p "Say hello" with ${flag}`, { timeout: CLAUDE_TIMEOUT_MS + 10_000 }, async () => {
        const result = await runClaude({ baseUrl: gatewayUrl, apiKey: ACCOUNTS[account].key, model, timeoutMs: CLAUDE_TIMEOUT_MS });
        rmSync(result.box.dir, { recursive: true, force: true });
        const context = [
          `exit ${result.code}${result.signal ? ` (${result.signal})` : ""}${result.timedOut ? ", timed out" : ""}`,
          `stdout: ${result.stdout.slice(0, 1500)}`,
          `stderr: ${result.stderr.slice(0, 1500)}`,
        ].join("\n");
        assert.equal(result.code, 0, context);
        assert.ok(result.json, `stdout is not JSON\n${context}`);
        assert.equal(result.json.is_error, false, context);
        assert.ok(expectedTexts(account, model).includes(result.json.result), `result ${JSON.stringify(result.json.result)}\n${context}`);
      });
    }

    // The captured main turns: Claude Code's default (claude-opus-5-5's shape: max_tokens 128000,
    // adaptive thinking, output_config, a system turn in messages), `--model auto`'s, and
    // claude-sonnet-4-0's (thinking enabled with budget 31999), each sent as auto and as each pin.
    for (const file of ["main-turn.json", "main-turn-auto.json", "main-turn-claude-sonnet-4-0.json"]) {
      for (const model of ["auto", ...pinned.filter(Boolean)]) {
        for (const stream of [false, true]) {
          test(`replay ${file} as ${model}, ${stream ? "streamed" : "whole"}`, { timeout: 60_000 }, async (t) => {
            const { path, headers } = capturedHeaders(file);
            const body = { ...captured(file), model, stream };
            const response = await fetch(`${gatewayUrl}${path}`, {
              method: "POST",
              headers: { ...headers, "x-api-key": ACCOUNTS[account].key },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(50_000),
            });
            const raw = await response.text();
            const served = response.headers.get("x-gateway-provider");
            t.diagnostic(`served by ${response.headers.get("x-gateway-model")}; adapted: ${response.headers.get("x-gateway-adapted") ?? "no"}`);
            const context = `status ${response.status}, ${JSON.stringify(gatewayHeaders(response))}\n${raw.slice(0, 1200)}`;
            assert.equal(response.status, 200, context);
            const want = providerOf(model);
            if (want) assert.equal(served, want, context);
            assert.ok(ACCOUNTS[account].providers.includes(served), context);
            if (stream) {
              assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/, context);
              const parsed = parseAnthropicStream(raw);
              assert.deepEqual(parsed.problems, [], context);
              assert.equal(parsed.text, TEXT_OF[served], context);
            } else {
              assert.match(response.headers.get("content-type") ?? "", /^application\/json/, context);
              const message = JSON.parse(raw);
              assert.equal(message.type, "message", context);
              assert.equal(message.role, "assistant", context);
              assert.ok(message.stop_reason, context);
              assert.equal(typeof message.usage?.input_tokens, "number", context);
              const text = message.content.filter((b) => b.type === "text").map((b) => b.text).join("");
              assert.equal(text, TEXT_OF[served], context);
            }
          });
        }
      }
    }

    for (const model of ["auto", ...pinned.filter(Boolean)]) {
      test(`count_tokens of the captured main turn as ${model}`, { timeout: 30_000 }, async () => {
        const { headers } = capturedHeaders("main-turn-auto.json");
        const { messages, system, tools } = captured("main-turn-auto.json");
        const response = await fetch(`${gatewayUrl}/v1/messages/count_tokens?beta=true`, {
          method: "POST",
          headers: { ...headers, "x-api-key": ACCOUNTS[account].key },
          body: JSON.stringify({ model, messages, system, tools }),
          signal: AbortSignal.timeout(20_000),
        });
        const raw = await response.text();
        assert.equal(response.status, 200, `${JSON.stringify(gatewayHeaders(response))}\n${raw.slice(0, 800)}`);
        const count = JSON.parse(raw);
        assert.ok(Number.isInteger(count.input_tokens) && count.input_tokens > 0, raw);
      });
    }
  });
}
