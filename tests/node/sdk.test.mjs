// The official `openai` Node package, pointed at the gateway, is our user: plain, streaming and
// tool calls. Starts the real binary on a fresh SQLite database with the fake providers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startGateway } from "./gateway.mjs";

let gateway;
let client;

before(async () => {
  gateway = await startGateway({
    email: "node@example.com",
    keyName: "node",
    providerKey: "sk-node-sdk-test-0123456789",
    providers: ["openai"],
  });
  client = new OpenAI({ baseURL: `${gateway.base}/v1`, apiKey: gateway.key, maxRetries: 0 });
});

after(async () => {
  await gateway?.stop();
});

test("a plain chat completion", async () => {
  const completion = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Say hello" }],
  });
  assert.equal(completion.object, "chat.completion");
  assert.equal(completion.choices[0].message.content, "Hello from the fake OpenAI server.");
  assert.equal(completion.usage.total_tokens, 29);
});

test("a streamed chat completion, with usage at the end", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Say hello" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 3, `expected several chunks, got ${chunks}`);
  assert.equal(text, "Hello from the fake OpenAI server.");
  assert.equal(usage.total_tokens, 29);
});

test("tool calls, plain and streamed", async () => {
  const tools = [
    {
      type: "function",
      function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
    },
  ];
  const messages = [{ role: "user", content: "Weather in Paris?" }];
  const completion = await client.chat.completions.create({ model: "openai/fake-tools", messages, tools });
  const call = completion.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });

  const stream = await client.chat.completions.create({ model: "openai/fake-tools", messages, tools, stream: true });
  let name = "";
  let args = "";
  for await (const chunk of stream) {
    for (const delta of chunk.choices[0]?.delta?.tool_calls ?? []) {
      name += delta.function?.name ?? "";
      args += delta.function?.arguments ?? "";
    }
  }
  assert.equal(name, "get_weather");
  assert.deepEqual(JSON.parse(args), { city: "Paris" });
});

test("errors arrive as the SDK's typed errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "openai/fake-error-429", messages: [{ role: "user", content: "x" }] }),
    (error) => error instanceof OpenAI.RateLimitError && error.status === 429,
  );
  const wrongKey = new OpenAI({ baseURL: client.baseURL, apiKey: "gw_" + "x".repeat(40), maxRetries: 0 });
  await assert.rejects(
    wrongKey.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }),
    (error) => error instanceof OpenAI.AuthenticationError,
  );
});

test("the Responses API: plain, streamed, and a function tool round trip", async () => {
  const response = await client.responses.create({ model: "gpt-4o-mini", instructions: "Be terse.", input: "Say hello" });
  assert.equal(response.status, "completed");
  assert.equal(response.output_text, "Hello from the fake OpenAI server.");
  assert.equal(response.usage.total_tokens, 29);

  const stream = await client.responses.create({ model: "gpt-4o-mini", input: "Say hello", stream: true });
  const types = [];
  let text = "";
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") text += event.delta;
  }
  assert.equal(types[0], "response.created");
  assert.equal(types.at(-1), "response.completed");
  assert.equal(text, "Hello from the fake OpenAI server.");

  const tools = [
    { type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
  ];
  const first = await client.responses.create({ model: "openai/fake-tools", input: "Weather in Paris?", tools });
  const call = first.output.find((item) => item.type === "function_call");
  assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
  const second = await client.responses.create({
    model: "gpt-4o-mini",
    tools,
    input: [
      { role: "user", content: "Weather in Paris?" },
      { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: "function_call_output", call_id: call.call_id, output: '{"celsius": 18}' },
    ],
  });
  assert.equal(second.output_text, "Hello from the fake OpenAI server.");
});
