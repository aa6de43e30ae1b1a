// Vercel's AI SDK (`ai` with `@ai-sdk/openai` and `@ai-sdk/anthropic`) pointed at the gateway
// with a `gw_` key: generateText and streamText through OpenAI's Chat Completions and Responses
// APIs and through Anthropic's Messages API, tool calls, JSON output beside tools, and embed.
// Two accounts served by the fake providers: one with both OpenAI and Anthropic keys, one with
// Anthropic's only. Each request the SDKs send is recorded with the gateway's answer headers, so
// the tests see where `auto` went.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { embed, generateText, Output, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";
import { root, startGateway } from "./gateway.mjs";

/** What the fake providers answer (testkit/fixtures), by the provider the gateway chose. */
const FAKE_ANSWER = {
  openai: "Hello from the fake OpenAI server.",
  anthropic: "Hello from the fake Anthropic server.",
};
const FAKE_USAGE = { openai: { inputTokens: 19, outputTokens: 10 }, anthropic: { inputTokens: 21, outputTokens: 11 } };
const fixture = (path) => JSON.parse(readFileSync(join(root, "testkit/fixtures", path), "utf8"));
const catalog = JSON.parse(readFileSync(join(root, "gateway/catalog/models.json"), "utf8"));

let gateway;
/** The SDKs' providers for each account: `both` (OpenAI and Anthropic) and `anthropicOnly`. */
const clients = {};
/** Every request sent to the gateway: { url, body, status, headers (the x-gateway-* ones) }. */
const sent = [];

/** A fetch that records what the SDKs send and the gateway's headers in answer. */
async function recordingFetch(url, init) {
  const exchange = { url: String(url), body: init?.body ? JSON.parse(init.body) : null };
  sent.push(exchange);
  const response = await fetch(url, init);
  exchange.status = response.status;
  exchange.headers = Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("x-gateway-")));
  return response;
}

/** The requests sent while `run` ran. */
async function recording(run) {
  const first = sent.length;
  const result = await run();
  return { result, requests: sent.slice(first) };
}

before(async () => {
  gateway = await startGateway({
    providerKey: "sk-node-ai-sdk-test-0123456789",
    accounts: [
      { email: "ai-sdk@example.com", keyName: "ai-sdk", providers: ["openai", "anthropic"] },
      { email: "ai-sdk-anthropic@example.com", keyName: "ai-sdk", providers: ["anthropic"] },
    ],
  });
  for (const [index, account] of ["both", "anthropicOnly"].entries()) {
    const settings = { baseURL: `${gateway.base}/v1`, apiKey: gateway.keys[index], fetch: recordingFetch };
    // Both SDKs append their paths (/chat/completions, /responses, /messages) to the /v1 base URL.
    clients[account] = { openai: createOpenAI(settings), anthropic: createAnthropic(settings) };
  }
});

after(async () => {
  await gateway?.stop();
});

const weatherTool = () =>
  tool({
    description: "The weather of a city right now",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `18 degrees and sunny in ${city}`,
  });
const timeTool = () =>
  tool({
    description: "The time in a city right now",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `noon in ${city}`,
  });

/** Asserts one request went to `path` and returns the provider the gateway says served it. */
function servedBy(requests, path) {
  assert.equal(requests.length, 1, JSON.stringify(requests));
  const [request] = requests;
  assert.ok(request.url.endsWith(path), request.url);
  assert.equal(request.status, 200);
  const provider = request.headers["x-gateway-provider"];
  assert.ok(provider in FAKE_ANSWER, `served by ${provider}`);
  return provider;
}

/** Collects a streamText result: its text, how many text parts, and any error parts. */
async function drain(result) {
  let text = "";
  let parts = 0;
  const errors = [];
  for await (const part of result.fullStream) {
    if (part.type === "text-delta") {
      text += part.text;
      parts += 1;
    }
    if (part.type === "error") errors.push(part.error);
  }
  return { text, parts, errors };
}

/**
 * The language models under test: `account` is whose key, `path` the gateway route the SDK
 * calls, `providers` those that may serve it (the account's; the pinned model's own).
 */
const models = [
  { name: "openai.chat('auto')", model: () => clients.both.openai.chat("auto"), path: "/v1/chat/completions", providers: ["openai", "anthropic"] },
  { name: "openai('auto') (Responses)", model: () => clients.both.openai("auto"), path: "/v1/responses", providers: ["openai", "anthropic"] },
  { name: "anthropic('auto')", model: () => clients.both.anthropic("auto"), path: "/v1/messages", providers: ["openai", "anthropic"] },
  {
    name: "anthropic('claude-3-5-haiku-latest')",
    model: () => clients.both.anthropic("claude-3-5-haiku-latest"),
    path: "/v1/messages",
    providers: ["anthropic"],
    pinned: "claude-3-5-haiku-latest",
  },
  // An account whose only provider is Anthropic: `auto` is Anthropic's, whatever the API.
  { name: "openai.chat('auto'), Anthropic-only account", model: () => clients.anthropicOnly.openai.chat("auto"), path: "/v1/chat/completions", providers: ["anthropic"] },
  { name: "openai('auto') (Responses), Anthropic-only account", model: () => clients.anthropicOnly.openai("auto"), path: "/v1/responses", providers: ["anthropic"] },
  { name: "anthropic('auto'), Anthropic-only account", model: () => clients.anthropicOnly.anthropic("auto"), path: "/v1/messages", providers: ["anthropic"] },
];

for (const { name, model, path, providers, pinned } of models) {
  test(`generateText through ${name}`, async () => {
    const { result, requests } = await recording(() =>
      generateText({ model: model(), system: "Be terse.", prompt: "Say hello", maxRetries: 0 }),
    );
    const provider = servedBy(requests, path);
    assert.ok(providers.includes(provider), `served by ${provider}`);
    assert.equal(requests[0].body.model, pinned ?? "auto");
    assert.match(requests[0].headers["x-gateway-route-reason"], pinned ? /^pinned/ : /^auto/);
    assert.equal(result.text, FAKE_ANSWER[provider]);
    assert.equal(result.finishReason, "stop");
    assert.equal(result.usage.inputTokens, FAKE_USAGE[provider].inputTokens);
    assert.equal(result.usage.outputTokens, FAKE_USAGE[provider].outputTokens);
  });

  test(`streamText through ${name}`, async () => {
    const { result: drained, requests } = await recording(async () =>
      drain(streamText({ model: model(), prompt: "Say hello", maxRetries: 0 })),
    );
    assert.deepEqual(drained.errors, []);
    const provider = servedBy(requests, path);
    assert.ok(providers.includes(provider), `served by ${provider}`);
    assert.equal(requests[0].body.stream, true);
    assert.equal(drained.text, FAKE_ANSWER[provider]);
    assert.ok(drained.parts >= 2, `expected several text parts, got ${drained.parts}`);
  });
}

test("a tool call through Chat Completions, plain and streamed", async () => {
  const { openai } = clients.both;
  const tools = { get_weather: weatherTool() };
  const result = await generateText({ model: openai.chat("openai/fake-tools"), tools, prompt: "Weather in Paris?", maxRetries: 0 });
  assert.equal(result.finishReason, "tool-calls");
  assert.deepEqual(
    result.toolCalls.map(({ toolName, input }) => ({ toolName, input })),
    [{ toolName: "get_weather", input: { city: "Paris" } }],
  );
  assert.deepEqual(result.toolResults.map(({ output }) => output), ["18 degrees and sunny in Paris"]);

  const streamed = streamText({ model: openai.chat("openai/fake-tools"), tools, prompt: "Weather in Paris?", maxRetries: 0 });
  assert.deepEqual(
    (await streamed.toolCalls).map(({ toolName, input }) => ({ toolName, input })),
    [{ toolName: "get_weather", input: { city: "Paris" } }],
  );
  assert.deepEqual((await streamed.toolResults).map(({ output }) => output), ["18 degrees and sunny in Paris"]);
});

test("a tool call through the Responses API", async () => {
  const { result, requests } = await recording(() =>
    generateText({
      model: clients.both.openai("openai/fake-tools"),
      tools: { get_weather: weatherTool() },
      prompt: "Weather in Paris?",
      maxRetries: 0,
    }),
  );
  assert.equal(servedBy(requests, "/v1/responses"), "openai");
  assert.deepEqual(requests[0].body.tools.map((t) => [t.type, t.name]), [["function", "get_weather"]]);
  assert.deepEqual(
    result.toolCalls.map(({ toolName, input }) => ({ toolName, input })),
    [{ toolName: "get_weather", input: { city: "Paris" } }],
  );
  assert.deepEqual(result.toolResults.map(({ output }) => output), ["18 degrees and sunny in Paris"]);
});

test("a tool round trip through Anthropic's Messages API: a forced call, then the answer", async () => {
  const { result, requests } = await recording(() =>
    generateText({
      model: clients.both.anthropic("claude-3-5-haiku-latest"),
      tools: { get_weather: weatherTool() },
      toolChoice: { type: "tool", toolName: "get_weather" },
      // The second step carries the tool's result and lets the model answer.
      prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: "none" } : {}),
      stopWhen: stepCountIs(2),
      prompt: "Weather in Paris?",
      maxRetries: 0,
    }),
  );
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[0].body.tool_choice, { type: "tool", name: "get_weather" });
  const toolResult = requests[1].body.messages.at(-1).content.find((block) => block.type === "tool_result");
  assert.equal(toolResult?.tool_use_id, "toolu_fake01");
  const [first, second] = result.steps;
  assert.deepEqual(
    first.toolCalls.map(({ toolName, input }) => ({ toolName, input })),
    [{ toolName: "get_weather", input: { city: "Paris" } }],
  );
  assert.deepEqual(first.toolResults.map(({ output }) => output), ["18 degrees and sunny in Paris"]);
  assert.equal(second.text, FAKE_ANSWER.anthropic);
  assert.equal(result.text, FAKE_ANSWER.anthropic);
});

test("toolChoice 'required' on an Anthropic model through Chat Completions calls a tool", async () => {
  // Chat's `tool_choice: "required"` is Anthropic's `{"type": "any"}`; the fake then calls the
  // last tool listed with {"city": "Paris"}.
  const { result, requests } = await recording(() =>
    generateText({
      model: clients.both.openai.chat("anthropic/claude-3-5-haiku-latest"),
      tools: { get_time: timeTool(), get_weather: weatherTool() },
      toolChoice: "required",
      prompt: "Weather in Paris?",
      maxRetries: 0,
    }),
  );
  assert.equal(servedBy(requests, "/v1/chat/completions"), "anthropic");
  assert.equal(requests[0].body.tool_choice, "required");
  assert.equal(result.finishReason, "tool-calls");
  assert.deepEqual(
    result.toolCalls.map(({ toolName, input }) => ({ toolName, input })),
    [{ toolName: "get_weather", input: { city: "Paris" } }],
  );
});

// An agent's usual shape: tools, and a JSON schema for the final answer. On Anthropic the schema
// is a forced tool offered beside the caller's tools; the fake answers {"city": "Paris"}.
const jsonBesideTools = [
  {
    name: "openai.chat('anthropic/claude-3-5-haiku-latest')",
    model: () => clients.both.openai.chat("anthropic/claude-3-5-haiku-latest"),
    path: "/v1/chat/completions",
    schemaOf: (body) => body.response_format.type,
    toolsOf: (body) => body.tools.map((t) => t.function.name),
  },
  {
    name: "openai.chat('auto'), Anthropic-only account",
    model: () => clients.anthropicOnly.openai.chat("auto"),
    path: "/v1/chat/completions",
    schemaOf: (body) => body.response_format.type,
    toolsOf: (body) => body.tools.map((t) => t.function.name),
  },
  {
    name: "openai('auto') (Responses), Anthropic-only account",
    model: () => clients.anthropicOnly.openai("auto"),
    path: "/v1/responses",
    schemaOf: (body) => body.text.format.type,
    toolsOf: (body) => body.tools.map((t) => t.name),
  },
];

for (const { name, model, path, schemaOf, toolsOf } of jsonBesideTools) {
  test(`JSON output beside tools on Anthropic through ${name}`, async () => {
    const { result, requests } = await recording(() =>
      generateText({
        model: model(),
        tools: { get_weather: weatherTool() },
        output: Output.object({ schema: z.object({ city: z.string() }) }),
        prompt: "Which city is the user asking about? Weather in Paris?",
        maxRetries: 0,
      }),
    );
    assert.equal(schemaOf(requests[0].body), "json_schema");
    assert.deepEqual(toolsOf(requests[0].body), ["get_weather"]);
    assert.equal(servedBy(requests, path), "anthropic");
    assert.deepEqual(result.output, { city: "Paris" });
  });
}

test("embed with openai.embedding('auto') is served by an embedding model", async () => {
  const { result, requests } = await recording(() =>
    embed({ model: clients.both.openai.embedding("auto"), value: "sunny weather in Paris", maxRetries: 0 }),
  );
  assert.equal(requests.length, 1);
  assert.ok(requests[0].url.endsWith("/v1/embeddings"));
  assert.equal(requests[0].body.model, "auto");
  assert.equal(requests[0].status, 200, JSON.stringify(requests[0].headers));
  const embeddingModels = catalog.models
    .filter((entry) => entry.kind === "embedding" && ["openai", "anthropic"].includes(entry.provider))
    .map((entry) => `${entry.provider}/${entry.model}`);
  assert.ok(
    embeddingModels.includes(requests[0].headers["x-gateway-model"]),
    `served by ${requests[0].headers["x-gateway-model"]}, not one of ${embeddingModels}`,
  );
  assert.deepEqual(result.embedding, fixture("openai/embeddings.json").data[0].embedding);
  assert.equal(result.usage.tokens, 8);
});
