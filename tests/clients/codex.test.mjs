// The Codex CLI (pinned in package.json) against the real gateway binary, then its captured
// requests (fixtures/codex/) replayed on /v1/responses. On routes that stay OpenAI's (OpenAI only,
// and Anthropic + OpenAI, where `auto` and gpt-4o-mini are OpenAI's) the request passes through
// as written. On an Anthropic-only account it is translated: the `namespace` tool flattened to
// function tools, the hosted `web_search` (offered, not forced) left out and named in
// x-gateway-dropped-tools; Codex's default model request (an `additional_tools` input item that
// only OpenAI serves) is refused with a 400 that says so.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { codexBin, quietEnv, run, runCodex, sandbox } from "./clients.mjs";
import { startGateway, TEXT_OF } from "./gateway.mjs";

const here = resolve(import.meta.dirname);
const captured = (name) => JSON.parse(readFileSync(join(here, "fixtures/codex", name), "utf8"));

const ACCOUNTS = {
  openai: { providers: ["openai"] },
  both: { providers: ["anthropic", "openai"] },
  anthropic: { providers: ["anthropic"] },
};
let gateway;

before(async () => {
  gateway = await startGateway(ACCOUNTS, { label: "codex" });
}, { timeout: 120_000 });

after(() => gateway?.stop(), { timeout: 30_000 });

/** Parses a Responses API event stream and checks its grammar; returns the text. */
function parseResponsesStream(raw) {
  const events = raw
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== "")
    .map((block) => ({
      event: block.match(/^event: ?(.*)$/m)?.[1],
      data: JSON.parse(block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n")),
    }));
  const problems = [];
  for (const { event, data } of events) if (event !== undefined && event !== data.type) problems.push(`event ${event} carries data.type ${data.type}`);
  const types = events.map((e) => e.data.type);
  if (types[0] !== "response.created") problems.push(`first event is ${types[0]}`);
  if (types.at(-1) !== "response.completed") problems.push(`last event is ${types.at(-1)}`);
  const text = events.filter((e) => e.data.type === "response.output_text.delta").map((e) => e.data.delta).join("");
  return { text, problems };
}

test("the pinned Codex CLI runs here, offline", async () => {
  const box = sandbox("codex-version");
  const result = await run(codexBin, ["--version"], { env: { PATH: process.env.PATH, HOME: box.home, ...quietEnv }, timeoutMs: 30_000 });
  rmSync(box.dir, { recursive: true, force: true });
  assert.equal(result.code, 0, result.stderr);
  const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).devDependencies["@openai/codex"];
  assert.equal(result.stdout.trim(), `codex-cli ${pinned}`);
});

for (const account of ["openai", "both"]) {
  describe(`${account} account`, () => {
    // "" is Codex's own default model (gpt-6.2-sol in 0.171.0, which the catalog does not know).
    for (const model of ["", "auto", "gpt-4o-mini"]) {
      test(`codex exec "Say hello" with ${model ? `model ${model}` : "its default model"}`, { timeout: 100_000 }, async () => {
        const result = await runCodex({ baseUrl: `${gateway.url}/v1`, apiKey: gateway.keys[account], model, timeoutMs: 90_000 });
        rmSync(result.box.dir, { recursive: true, force: true });
        const context = `exit ${result.code}${result.timedOut ? ", timed out" : ""}\nstdout: ${result.stdout.slice(0, 1000)}\nstderr: ${result.stderr.slice(-2000)}`;
        assert.equal(result.code, 0, context);
        assert.equal(result.stdout.trim(), TEXT_OF.openai, context);
      });
    }

    for (const file of ["turn-default.json", "turn-auto.json"]) {
      for (const model of ["auto", "gpt-4o-mini"]) {
        for (const stream of [false, true]) {
          test(`replay ${file} as ${model}, ${stream ? "streamed" : "whole"}`, { timeout: 60_000 }, async (t) => {
            const body = { ...captured(file), model, stream };
            const response = await fetch(`${gateway.url}/v1/responses`, {
              method: "POST",
              headers: { "content-type": "application/json", authorization: `Bearer ${gateway.keys[account]}` },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(50_000),
            });
            const raw = await response.text();
            t.diagnostic(`served by ${response.headers.get("x-gateway-model")}; adapted: ${response.headers.get("x-gateway-adapted") ?? "no"}`);
            const context = `status ${response.status}, model ${response.headers.get("x-gateway-model")}\n${raw.slice(0, 1200)}`;
            assert.equal(response.status, 200, context);
            assert.equal(response.headers.get("x-gateway-provider"), "openai", context);
            if (stream) {
              const parsed = parseResponsesStream(raw);
              assert.deepEqual(parsed.problems, [], context);
              assert.equal(parsed.text, TEXT_OF.openai, context);
            } else {
              const answer = JSON.parse(raw);
              assert.equal(answer.object, "response", context);
              assert.equal(answer.status, "completed", context);
              const text = answer.output
                .filter((item) => item.type === "message")
                .flatMap((item) => item.content)
                .filter((part) => part.type === "output_text")
                .map((part) => part.text)
                .join("");
              assert.equal(text, TEXT_OF.openai, context);
            }
          });
        }
      }
    }
  });
}

describe("anthropic account (translated)", () => {
  test(`codex exec "Say hello" with model auto`, { timeout: 100_000 }, async () => {
    const result = await runCodex({ baseUrl: `${gateway.url}/v1`, apiKey: gateway.keys.anthropic, model: "auto", timeoutMs: 90_000 });
    rmSync(result.box.dir, { recursive: true, force: true });
    const context = `exit ${result.code}${result.timedOut ? ", timed out" : ""}\nstdout: ${result.stdout.slice(0, 1000)}\nstderr: ${result.stderr.slice(-2000)}`;
    assert.equal(result.code, 0, context);
    assert.equal(result.stdout.trim(), TEXT_OF.anthropic, context);
  });

  for (const model of ["auto", "anthropic/claude-sonnet-4-0"]) {
    for (const stream of [false, true]) {
      test(`replay turn-auto.json as ${model}, ${stream ? "streamed" : "whole"}`, { timeout: 60_000 }, async (t) => {
        const body = { ...captured("turn-auto.json"), model, stream };
        const response = await fetch(`${gateway.url}/v1/responses`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${gateway.keys.anthropic}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(50_000),
        });
        const raw = await response.text();
        t.diagnostic(`served by ${response.headers.get("x-gateway-model")}; adapted: ${response.headers.get("x-gateway-adapted") ?? "no"}`);
        const context = `status ${response.status}, model ${response.headers.get("x-gateway-model")}\n${raw.slice(0, 1200)}`;
        assert.equal(response.status, 200, context);
        assert.equal(response.headers.get("x-gateway-provider"), "anthropic", context);
        assert.equal(response.headers.get("x-gateway-dropped-tools"), "web_search", context);
        const text = stream
          ? parseResponsesStream(raw).text
          : JSON.parse(raw).output.filter((item) => item.type === "message").flatMap((item) => item.content).map((part) => part.text).join("");
        if (stream) assert.deepEqual(parseResponsesStream(raw).problems, [], context);
        assert.equal(text, TEXT_OF.anthropic, context);
      });
    }
  }

  test("Codex's default-model request, which only OpenAI serves, is refused saying why", async () => {
    const body = { ...captured("turn-default.json"), model: "auto" };
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${gateway.keys.anthropic}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const error = (await response.json()).error;
    assert.equal(response.status, 400, JSON.stringify(error));
    assert.match(error.message, /additional_tools input items cannot be translated for providers other than the one whose API this is\. They reach OpenAI when every model of the route is OpenAI's/);
  });
});
