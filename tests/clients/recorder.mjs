// A tiny recording server that speaks just enough of Anthropic's Messages API and OpenAI's
// Responses API for Claude Code and the Codex CLI to finish a turn, and records every request it
// gets (method, path, headers without secrets, body). Used to capture the request shapes in
// fixtures/ (see fixtures/*/README.md).
//
//   node recorder.mjs [--port 0] [--out requests.jsonl] [--text "Hello from the recorder."]
//
// prints `recorder=http://127.0.0.1:PORT` once listening, then appends one JSON line per request
// to --out (or stdout). Also usable as a module: `startRecorder({ text })` resolves with
// `{ url, requests, close }`.
import { createServer } from "node:http";
import { appendFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** Header names whose values are secrets: replaced by "<redacted>" in the record. */
const SECRET_HEADER = /^(authorization|x-api-key|api-key|cookie|proxy-authorization|chatgpt-account-id)$|key|token|secret/i;

export function redactHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADER.test(name) ? "<redacted>" : value;
  }
  return out;
}

function sse(res, events) {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  for (const [event, data] of events) {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
  res.end();
}

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

let counter = 0;
const nextId = (prefix) => `${prefix}_rec${Date.now().toString(36)}${(counter++).toString(36)}`;

/** Anthropic's Messages API: a one-block text answer, streamed when asked. */
function anthropicMessage(res, body, text) {
  const id = nextId("msg");
  const model = body?.model ?? "claude-recorder";
  const usage = { input_tokens: 12, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (!body?.stream) {
    return json(res, 200, {
      id, type: "message", role: "assistant", model,
      content: [{ type: "text", text }],
      stop_reason: "end_turn", stop_sequence: null, usage,
    }, { "request-id": `req_${id}` });
  }
  sse(res, [
    ["message_start", { type: "message_start", message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["ping", { type: "ping" }],
    ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }],
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }],
    ["message_stop", { type: "message_stop" }],
  ]);
}

/** OpenAI's Responses API: one assistant message, streamed when asked. */
function openaiResponse(res, body, text) {
  const id = nextId("resp");
  const itemId = nextId("msg");
  const created_at = Math.floor(Date.now() / 1000);
  const model = body?.model ?? "gpt-recorder";
  const item = { id: itemId, type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] };
  const usage = { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 19 };
  const base = { id, object: "response", created_at, model, error: null, incomplete_details: null, parallel_tool_calls: true, tool_choice: "auto", tools: [] };
  if (!body?.stream) {
    return json(res, 200, { ...base, status: "completed", output: [item], output_text: text, usage });
  }
  let seq = 0;
  const ev = (type, data) => [type, { type, sequence_number: seq++, ...data }];
  sse(res, [
    ev("response.created", { response: { ...base, status: "in_progress", output: [], usage: null } }),
    ev("response.in_progress", { response: { ...base, status: "in_progress", output: [], usage: null } }),
    ev("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } }),
    ev("response.content_part.added", { item_id: itemId, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } }),
    ev("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta: text }),
    ev("response.output_text.done", { item_id: itemId, output_index: 0, content_index: 0, text }),
    ev("response.content_part.done", { item_id: itemId, output_index: 0, content_index: 0, part: item.content[0] }),
    ev("response.output_item.done", { output_index: 0, item }),
    ev("response.completed", { response: { ...base, status: "completed", output: [item], usage } }),
  ]);
}

function handle(req, res, body, text) {
  const path = req.url.split("?")[0];
  if (req.method === "HEAD" || (req.method === "GET" && (path === "/" || path === "/v1"))) {
    res.writeHead(200, { "content-type": "text/plain" });
    return res.end(req.method === "HEAD" ? undefined : "ok");
  }
  if (req.method === "POST" && path.endsWith("/messages/count_tokens")) {
    const size = JSON.stringify(body ?? {}).length;
    return json(res, 200, { input_tokens: Math.max(1, Math.ceil(size / 4)) });
  }
  if (req.method === "POST" && path.endsWith("/messages")) return anthropicMessage(res, body, text);
  if (req.method === "POST" && path.endsWith("/responses")) return openaiResponse(res, body, text);
  if (req.method === "GET" && path.endsWith("/models")) {
    // Both shapes at once: OpenAI's list (`data`) and Codex's own model list (`models`).
    return json(res, 200, { object: "list", data: [], models: [] });
  }
  json(res, 404, { type: "error", error: { type: "not_found_error", message: `recorder: no route ${req.method} ${path}` } });
}

export function startRecorder({ port = 0, text = "Hello from the recorder.", out } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body = raw === "" ? null : raw;
      try {
        body = raw === "" ? null : JSON.parse(raw);
      } catch {
        /* kept as text */
      }
      const record = { at: new Date().toISOString(), method: req.method, path: req.url, headers: redactHeaders(req.headers), body };
      requests.push(record);
      if (out) appendFileSync(out, JSON.stringify(record) + "\n");
      try {
        handle(req, res, body, text);
      } catch (error) {
        json(res, 500, { type: "error", error: { type: "api_error", message: String(error) } });
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(done); }),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : fallback;
  };
  const recorder = await startRecorder({ port: Number(option("port", 0)), text: option("text", undefined), out: option("out", undefined) });
  console.log(`recorder=${recorder.url}`);
  if (!option("out")) {
    setInterval(() => {
      while (recorder.requests.length) console.log(JSON.stringify(recorder.requests.shift()));
    }, 200);
  }
}
