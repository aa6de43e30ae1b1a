// The official `openai` Node package, pointed at the gateway, is our user: plain, streaming and
// tool calls. Starts the real binary on a fresh SQLite database with the fake providers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import OpenAI from "openai";

const root = resolve(import.meta.dirname, "../..");
const gatewayBin = process.env.LLM_GATEWAY_BIN ?? join(root, "target/debug/llm-gateway");
const fakeBin = process.env.FAKE_PROVIDERS_BIN ?? join(root, "target/debug/fake-providers");
const providerKey = "sk-node-sdk-test-0123456789";
const dataDir = mkdtempSync(join(tmpdir(), "gw-node-"));
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
let client;

/** Starts a process and resolves with the rest of the first stdout line starting with `prefix`. */
function startAndRead(command, args, prefix) {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
  processes.push(child);
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => line.startsWith(prefix) && resolvePromise(line.slice(prefix.length).trim()));
    child.on("exit", (code) => reject(new Error(`${command} exited with ${code} before printing ${prefix}`)));
  });
}

const cli = (args, input) => execFileSync(gatewayBin, args, { env, input: input ?? "" }).toString().trim();

before(async () => {
  const fakeOpenAi = await startAndRead(fakeBin, ["--accept-key", providerKey], "openai=");
  cli(["user", "create", "--email", "node@example.com", "--plan", "pro"], "a sturdy passphrase 42\n");
  cli(["provider", "add", "--email", "node@example.com", "--provider", "openai", "--base-url", fakeOpenAi], `${providerKey}\n`);
  const key = cli(["key", "create", "--email", "node@example.com", "--name", "node"]);
  const base = await startAndRead(gatewayBin, ["serve"], "LLM Gateway is running at ");
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
});

after(async () => {
  // Let the gateway shut down gracefully (it writes queued usage) before its folder goes.
  await Promise.all(
    processes.map(
      (child) =>
        new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.on("exit", done);
          child.kill("SIGTERM");
        }),
    ),
  );
  rmSync(dataDir, { recursive: true, force: true });
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
