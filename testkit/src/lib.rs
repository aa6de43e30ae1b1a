//! Fake provider servers for tests. One server on 127.0.0.1 speaks all five providers' documented
//! wire formats (status codes, headers, SSE framing, error bodies) from fixture files, and records
//! what it was sent. Base URLs, as each provider's SDK names them:
//! OpenAI `http://ADDR/v1`, Groq `http://ADDR/groq/openai/v1`, Ollama `http://ADDR/ollama`,
//! Anthropic `http://ADDR/anthropic`, Gemini `http://ADDR/gemini`.
//!
//! The model name picks the behaviour, so a test can ask for any outcome through the gateway:
//! - `fake-error-429` → the provider's rate-limit error (429, with `Retry-After: 20` where the
//!   provider sends one; Gemini puts the delay in the body)
//! - `fake-error-500` → the provider's server error (500; Anthropic 529, Gemini 503)
//! - `fake-missing-model` → the provider's not-found error
//! - `fake-garbage` → 200 with a body that is not a completion
//! - `fake-flaky` → a server error on the first call of each test run, then a normal answer
//! - `fake-slow` → answers after 3 seconds
//! - `fake-tools` → a tool call (`get_weather` with `{"city":"Paris"}`)
//! - `fake-stream-cut` → a stream that breaks off after two events
//! - `fake-endless`, `fake-endless-error`, `fake-endless-event` (streamed) → answers that never
//!   end: a JSON body, an error body, one SSE line, or SSE lines that never end their event
//! - `fake-long-model-name` → an answer whose `model` is a megabyte long
//! - anything else → the provider's plain answer "Hello from the fake <Provider> server."
//!
//! A chat request whose system message starts with [`JUDGE_PROMPT_START`] (the gateway's quality
//! judge) is answered with the judge's reply a test sets ([`FakeProviders::set_judge_reply`];
//! by default `Assistant A: [[8]]` and `Assistant B: [[9]]`), after the judge pause if one is set.
//!
//! `stream: true` (or Gemini's `:streamGenerateContent`) answers with the streaming fixtures,
//! one event every 20 ms.
//!
//! Real model names (anything not `fake-*`) get two answers closer to a model's:
//! - Anthropic with `tool_choice: {"type": "any"}` calls the LAST tool of `tools` with
//!   `{"city":"Paris"}` (streamed too: the tool-use stream with that name), a deterministic
//!   stand-in for the model's own choice among the tools; a `tool_choice` naming a tool calls that
//!   tool, for every model, as before.
//! - OpenAI chat with `tool_choice: {"type": "function", "function": {"name": N}}` calls N (with
//!   `{"city":"Paris"}`), whole answers only, as the real API always calls a forced function.
//! - OpenAI chat with `response_format: {"type": "json_schema", …}` answers the JSON text
//!   `{"city":"Paris"}` as the message content instead of the greeting (whole or streamed, the
//!   stream's content deltas being `{"city":` and `"Paris"}`).
//!
//! And the fake OpenAI (chat completions, provider `openai`; not Groq or Ollama) and the fake
//! Anthropic (`/v1/messages`) are as strict as the real APIs for the real model names, with the
//! provider's own 400 and error body ([`strict`] has the rules and the model table):
//! - OpenAI reasoning models (o1, o3, o3-mini, o4-mini, gpt-5, gpt-5-mini, gpt-5-nano) refuse
//!   `max_tokens` ("Use 'max_completion_tokens' instead"), `temperature` / `top_p` other than 1,
//!   and a non-zero `presence_penalty` / `frequency_penalty` or `logprobs: true`;
//! - OpenAI `max_tokens` / `max_completion_tokens` above the model's completion limit (gpt-4o and
//!   gpt-4o-mini 16384, gpt-4.1* 32768, o-series 100000, gpt-5* 128000) → "max_tokens is too large";
//! - Anthropic `max_tokens` above the model's output limit → "max_tokens: N > L, which is the
//!   maximum allowed number of output tokens for <model>";
//! - Anthropic `thinking`: refused by claude-3-haiku and claude-3-5-haiku; `enabled` needs
//!   `budget_tokens` ≥ 1024 and < `max_tokens`; `adaptive` on claude-opus-4-6 only; unknown types
//!   refused; `disabled` fine everywhere; with thinking on, `temperature` ≠ 1 and `top_k` refused;
//! - Anthropic `temperature` outside 0..=1;
//! - Anthropic `output_config` and `context_management` only on claude-opus-4-5, claude-opus-4-6,
//!   claude-sonnet-4-5 and claude-haiku-4-5;
//! - Anthropic `system` role inside `messages` (every model but claude-opus-4-6).

pub mod smtp;
pub mod strict;
pub mod stripe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../fixtures/", $path))
    };
}

pub const OPENAI_CHAT_COMPLETION: &str = fixture!("openai/chat_completion.json");

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub provider: &'static str,
    pub path: String,
    /// The credential as sent: `Authorization`, `x-api-key` or `x-goog-api-key`.
    pub credential: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

impl RecordedRequest {
    /// `Authorization` as sent (OpenAI, Groq, Ollama).
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    /// Keys the fake accepts; empty means any non-empty key.
    accepted_keys: Vec<String>,
    requests: Mutex<Vec<RecordedRequest>>,
    flaky_calls: AtomicU32,
    /// Streams whose reader went away before the last event: the gateway cancelled the call.
    abandoned_streams: Arc<AtomicU32>,
    /// Pause between the events of a normal stream, in milliseconds (0: the default 20 ms).
    stream_pause_ms: std::sync::atomic::AtomicU64,
    /// What the fake answers a quality judge's request; `None`: the default ratings.
    judge_reply: Mutex<Option<String>>,
    /// How long the judge takes to answer, in milliseconds.
    judge_pause_ms: std::sync::atomic::AtomicU64,
    /// The judge answers with the provider's server error (500) instead of ratings.
    judge_fails: std::sync::atomic::AtomicBool,
    /// Labelled questions (the first user message) the judge grades by their label: the served
    /// answer adequate or not (the calibration benchmark's stand-in for a real judge).
    judge_labels: Mutex<std::collections::HashMap<String, bool>>,
}

/// How the gateway's quality judge's system message starts (MT-Bench's judge prompt).
pub const JUDGE_PROMPT_START: &str = "Please act as an impartial judge";
const DEFAULT_JUDGE_REPLY: &str = "Both answers are helpful; B is a little more complete.\n\nAssistant A: [[8]]\nAssistant B: [[9]]";

impl Shared {
    fn stream_pause(&self) -> Duration {
        match self.stream_pause_ms.load(Ordering::SeqCst) {
            0 => DEFAULT_STREAM_PAUSE,
            ms => Duration::from_millis(ms),
        }
    }
}

const DEFAULT_STREAM_PAUSE: Duration = Duration::from_millis(20);

impl Shared {
    fn key_ok(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented.filter(|key| !key.is_empty()) else {
            return false;
        };
        self.accepted_keys.is_empty() || self.accepted_keys.iter().any(|k| k == presented)
    }

    fn record(
        &self,
        provider: &'static str,
        path: String,
        credential: Option<String>,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Value {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.requests.lock().push(RecordedRequest {
            provider,
            path,
            credential,
            headers: headers.clone(),
            body: parsed.clone(),
        });
        parsed
    }

    /// True on the first call of a `fake-flaky` model only.
    fn flaky_fails(&self) -> bool {
        self.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0
    }
}

/// The running fake providers.
pub struct FakeProviders {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

/// The name the first tests used; the server fakes every provider now.
pub type FakeOpenAi = FakeProviders;

impl FakeProviders {
    /// Starts on a free port of 127.0.0.1, accepting only `accepted_keys` (any key if empty).
    pub async fn start(accepted_keys: Vec<String>) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("a valid address"),
            accepted_keys,
        )
        .await
    }

    pub async fn start_on(addr: SocketAddr, accepted_keys: Vec<String>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            accepted_keys,
            ..Shared::default()
        });
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// OpenAI's base URL.
    pub fn base_url(&self) -> String {
        self.base_url_for("openai")
    }

    pub fn base_url_for(&self, provider: &str) -> String {
        let addr = self.addr;
        match provider {
            "openai" => format!("http://{addr}/v1"),
            "groq" => format!("http://{addr}/groq/openai/v1"),
            "ollama" => format!("http://{addr}/ollama"),
            "anthropic" => format!("http://{addr}/anthropic"),
            "gemini" => format!("http://{addr}/gemini"),
            other => panic!("no fake for provider {other}"),
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    /// Slows the normal streams down, so that a test can act in the middle of one however loaded
    /// the machine is.
    pub fn set_stream_pause(&self, pause: Duration) {
        let ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.stream_pause_ms.store(ms, Ordering::SeqCst);
    }

    /// What the fake answers a quality judge from now on (its ratings, or anything else).
    pub fn set_judge_reply(&self, reply: &str) {
        *self.shared.judge_reply.lock() = Some(reply.to_owned());
    }

    /// Makes the judge grade by these labels: a question (its user message) labelled `true` gets
    /// equal ratings, `false` a served answer far below the baseline's.
    pub fn set_judge_labels(&self, labels: std::collections::HashMap<String, bool>) {
        *self.shared.judge_labels.lock() = labels;
    }

    /// Makes the judge answer with OpenAI's server error (500), as a judge that is down.
    pub fn set_judge_failing(&self, failing: bool) {
        self.shared.judge_fails.store(failing, Ordering::SeqCst);
    }

    /// Makes the judge take `pause` to answer.
    pub fn set_judge_pause(&self, pause: Duration) {
        let ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.shared.judge_pause_ms.store(ms, Ordering::SeqCst);
    }

    /// The requests that reached the fake as a quality judge's.
    pub fn judge_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| {
                request
                    .body
                    .pointer("/messages/0/content")
                    .and_then(Value::as_str)
                    .is_some_and(|system| system.starts_with(JUDGE_PROMPT_START))
            })
            .collect()
    }

    /// How many streams were dropped by the client (the gateway) before they were complete.
    pub fn abandoned_streams(&self) -> u32 {
        self.shared.abandoned_streams.load(Ordering::SeqCst)
    }

    /// Serves until the process ends (for the `fake-providers` binary).
    pub async fn wait(mut self) {
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(|s, h, b| openai_like("openai", s, h, b)),
        )
        .route("/v1/responses", post(openai_responses))
        .route(
            "/v1/embeddings",
            post(|s, h, b| openai_embeddings("openai", s, h, b)),
        )
        .route(
            "/groq/openai/v1/chat/completions",
            post(|s, h, b| openai_like("groq", s, h, b)),
        )
        .route(
            "/ollama/v1/chat/completions",
            post(|s, h, b| openai_like("ollama", s, h, b)),
        )
        .route(
            "/ollama/v1/embeddings",
            post(|s, h, b| openai_embeddings("ollama", s, h, b)),
        )
        .route("/anthropic/v1/messages", post(anthropic))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(anthropic_count_tokens),
        )
        .route("/gemini/v1beta/models/{call}", post(gemini))
        .with_state(shared)
}

fn json_response(
    status: StatusCode,
    body: &str,
    headers: &[(&'static str, &'static str)],
) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(*name, header::HeaderValue::from_static(value));
    }
    response
}

/// A body that starts with `prefix` and then never ends (64 KiB of padding at a time, for as long
/// as the client reads).
fn endless_response(
    status: StatusCode,
    content_type: &'static str,
    prefix: &'static str,
) -> Response {
    let padding = Bytes::from(vec![b'a'; 64 * 1024]);
    let stream = async_stream::stream! {
        yield Ok::<_, std::io::Error>(Bytes::from_static(prefix.as_bytes()));
        loop {
            yield Ok(padding.clone());
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// An event stream of 64 KiB `data:` lines that never ends its first event.
fn endless_event_response() -> Response {
    let mut line = b"data: ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 64 * 1024));
    line.push(b'\n');
    let line = Bytes::from(line);
    let stream = async_stream::stream! {
        loop {
            yield Ok::<_, std::io::Error>(line.clone());
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// Counts a stream as abandoned unless it was marked complete before being dropped.
struct CompletionWatch {
    complete: bool,
    abandoned: Arc<AtomicU32>,
}

impl Drop for CompletionWatch {
    fn drop(&mut self) {
        if !self.complete {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Streams a fixture's events with a small pause between them, as a real provider does; with
/// `cut`, the connection breaks off after two events.
fn sse_response(fixture: &str, separator: &'static str, cut: bool) -> Response {
    sse_response_watched(fixture, separator, cut, None, DEFAULT_STREAM_PAUSE)
}

fn sse_response_watched(
    fixture: &str,
    separator: &'static str,
    cut: bool,
    abandoned: Option<Arc<AtomicU32>>,
    pause: Duration,
) -> Response {
    let events: Vec<String> = fixture
        .split(separator)
        .filter(|event| !event.trim().is_empty())
        .map(|event| format!("{event}{separator}"))
        .collect();
    let stream = async_stream::stream! {
        let mut watch = abandoned.map(|abandoned| CompletionWatch { complete: cut, abandoned });
        for (index, event) in events.into_iter().enumerate() {
            if cut && index == 2 {
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"));
                return;
            }
            yield Ok::<_, std::io::Error>(Bytes::from(event));
            tokio::time::sleep(pause).await;
        }
        if let Some(watch) = watch.as_mut() {
            watch.complete = true;
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

/// A strict rule's refusal as the provider sends it.
fn refusal_response(
    refusal: strict::Refusal,
    headers: &[(&'static str, &'static str)],
) -> Response {
    json_response(
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
        &refusal.body.to_string(),
        headers,
    )
}

/// The JSON text a real model's structured-output answer carries, as the fake OpenAI writes it.
const JSON_ANSWER: &str = r#"{"city":"Paris"}"#;

/// The chat completion fixture with `model` set and the JSON text as the message content.
/// The question a judge's request shows (a single user turn), as the gateway frames it.
fn judged_question(request: &Value) -> Option<String> {
    let shown = request.pointer("/messages/1/content")?.as_str()?;
    let start = shown.find("[User Question]\nuser: ")? + "[User Question]\nuser: ".len();
    let end = shown.find("\n\n[The Start of Assistant A's Answer]")?;
    shown.get(start..end).map(str::to_owned)
}

fn with_json_content(fixture: &str, model: &str) -> String {
    let mut value: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    value["model"] = Value::String(model.to_owned());
    if let Some(content) = value.pointer_mut("/choices/0/message/content") {
        *content = Value::String(JSON_ANSWER.to_owned());
    }
    value.to_string()
}

/// The chat completion stream fixture with the JSON text as its content: the first two content
/// deltas carry `{"city":` and `"Paris"}`, the other content deltas are left out, and every other
/// event is kept byte for byte.
fn json_content_stream(fixture: &str) -> String {
    let mut pieces = [r#"{"city":"#, r#""Paris"}"#].into_iter();
    let mut stream = String::new();
    for event in fixture
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
    {
        let chunk = event
            .strip_prefix("data: ")
            .and_then(|data| serde_json::from_str::<Value>(data).ok());
        let Some(mut chunk) = chunk else {
            stream.push_str(event);
            stream.push_str("\n\n");
            continue;
        };
        let has_text = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty());
        if !has_text {
            stream.push_str(event);
            stream.push_str("\n\n");
            continue;
        }
        let Some(piece) = pieces.next() else {
            continue;
        };
        chunk["choices"][0]["delta"]["content"] = Value::String(piece.to_owned());
        stream.push_str(&format!("data: {chunk}\n\n"));
    }
    stream
}

fn with_model(fixture: &str, pointer: &str, model: &str) -> String {
    let mut value: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = Value::String(model.to_owned());
    }
    value.to_string()
}

struct OpenAiLike {
    answer: &'static str,
    stream: &'static str,
    rate_limit: &'static str,
    not_found: (StatusCode, &'static str),
}

fn openai_like_fixtures(provider: &str) -> OpenAiLike {
    match provider {
        "groq" => OpenAiLike {
            answer: fixture!("groq/chat_completion.json"),
            stream: fixture!("groq/chat_completion_stream.sse"),
            rate_limit: fixture!("groq/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("openai/error_model_not_found.json"),
            ),
        },
        "ollama" => OpenAiLike {
            answer: fixture!("ollama/chat_completion.json"),
            stream: fixture!("ollama/chat_completion_stream.sse"),
            rate_limit: fixture!("openai/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("ollama/error_model_not_found.json"),
            ),
        },
        _ => OpenAiLike {
            answer: fixture!("openai/chat_completion.json"),
            stream: fixture!("openai/chat_completion_stream.sse"),
            rate_limit: fixture!("openai/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("openai/error_model_not_found.json"),
            ),
        },
    }
}

/// `Authorization` as sent.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// OpenAI's Responses API (`POST /v1/responses`): the answer "Hello from the fake OpenAI
/// server." whole or as the documented event stream; the error models as on chat.
async fn openai_responses(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = authorization(&headers);
    let request = shared.record(
        "openai",
        "/responses".into(),
        bearer.clone(),
        &headers,
        &body,
    );
    if !shared.key_ok(bearer.as_deref().and_then(|v| v.strip_prefix("Bearer "))) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("openai/error_invalid_api_key.json"),
            &[],
        );
    }
    if request.get("input").is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}"#,
            &[],
        );
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("openai/error_rate_limit.json"),
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-missing-model" => json_response(
            StatusCode::NOT_FOUND,
            fixture!("openai/error_model_not_found.json"),
            &[],
        ),
        "fake-tools" if request.get("stream").and_then(Value::as_bool) == Some(true) => {
            sse_response(
                fixture!("openai/response_tool_call_stream.sse"),
                "\n\n",
                false,
            )
        }
        "fake-tools" => json_response(
            StatusCode::OK,
            &with_model(fixture!("openai/response_tool_call.json"), "/model", model),
            &[],
        ),
        _ if request.get("stream").and_then(Value::as_bool) == Some(true) => {
            sse_response(fixture!("openai/response_stream.sse"), "\n\n", false)
        }
        _ => json_response(
            StatusCode::OK,
            &with_model(fixture!("openai/response.json"), "/model", model),
            &[],
        ),
    }
}

async fn openai_like(
    provider: &'static str,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = authorization(&headers);
    let request = shared.record(
        provider,
        "/chat/completions".into(),
        bearer.clone(),
        &headers,
        &body,
    );
    let key = bearer.as_deref().and_then(|v| v.strip_prefix("Bearer "));
    // Ollama takes no key; the others refuse a missing or wrong one.
    if provider != "ollama" && !shared.key_ok(key) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("openai/error_invalid_api_key.json"),
            &[],
        );
    }
    if request.get("messages").and_then(Value::as_array).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}"#,
            &[],
        );
    }
    // The real OpenAI's rules for the real model names (Groq and Ollama are left as they were).
    if provider == "openai"
        && let Some(refusal) = strict::openai_chat(&request)
    {
        return refusal_response(refusal, &[("x-request-id", "req_fake_strict")]);
    }
    let fixtures = openai_like_fixtures(provider);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Structured output from a real OpenAI model: the answer is the JSON text.
    let json_answer = provider == "openai"
        && !strict::is_fake_model(model)
        && request
            .pointer("/response_format/type")
            .and_then(Value::as_str)
            == Some("json_schema");
    // A real OpenAI model given a function in `tool_choice` calls it, as OpenAI guarantees (the
    // weather call's arguments, under the forced name); whole answers only.
    let forced_function = (provider == "openai"
        && !strict::is_fake_model(model)
        && !stream
        && request.pointer("/tool_choice/type").and_then(Value::as_str) == Some("function"))
    .then(|| {
        request
            .pointer("/tool_choice/function/name")
            .and_then(Value::as_str)
    })
    .flatten();
    if let Some(name) = forced_function {
        let answer = with_model(
            fixture!("openai/chat_completion_tool_call.json"),
            "/model",
            model,
        );
        let answer = with_model(
            &answer,
            "/choices/0/message/tool_calls/0/function/name",
            name,
        );
        return json_response(StatusCode::OK, &answer, &[]);
    }
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixtures.rate_limit,
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-flaky" if shared.flaky_fails() => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-missing-model" => json_response(fixtures.not_found.0, fixtures.not_found.1, &[]),
        "fake-garbage" => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        // A provider sending the caller (and the key it carries) elsewhere.
        "fake-redirect" => json_response(
            StatusCode::TEMPORARY_REDIRECT,
            "{}",
            &[("location", "/v1/chat/completions?redirected=1")],
        ),
        "fake-tools" if stream => sse_response(
            fixture!("openai/chat_completion_tool_call_stream.sse"),
            "\n\n",
            false,
        ),
        "fake-tools" => json_response(
            StatusCode::OK,
            &with_model(
                fixture!("openai/chat_completion_tool_call.json"),
                "/model",
                model,
            ),
            &[],
        ),
        "fake-stream-cut" if stream => sse_response(fixtures.stream, "\n\n", true),
        // A provider gone wrong whose answer never ends: an SSE line, a JSON body, an error body.
        "fake-endless" if stream => {
            endless_response(StatusCode::OK, "text/event-stream", "data: {\"pad\":\"")
        }
        "fake-endless" => endless_response(StatusCode::OK, "application/json", "{\"pad\":\""),
        // Lines of a proper length, but never the blank line that would end the event.
        "fake-endless-event" if stream => endless_event_response(),
        // A provider naming a model of a megabyte.
        "fake-long-model-name" => json_response(
            StatusCode::OK,
            &with_model(fixtures.answer, "/model", &"m".repeat(1024 * 1024)),
            &[],
        ),
        "fake-endless-error" => endless_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            "{\"error\":{\"message\":\"",
        ),
        _ => {
            if model == "fake-slow" {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let judged = request
                .pointer("/messages/0/content")
                .and_then(Value::as_str)
                .is_some_and(|system| system.starts_with(JUDGE_PROMPT_START));
            if judged && !stream {
                let pause = shared.judge_pause_ms.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                if shared.judge_fails.load(Ordering::SeqCst) {
                    return json_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        fixture!("openai/error_server.json"),
                        &[],
                    );
                }
                let labelled = judged_question(&request)
                    .and_then(|question| shared.judge_labels.lock().get(&question).copied());
                let reply = match labelled {
                    Some(true) => "Assistant A: [[9]]\nAssistant B: [[9]]".to_owned(),
                    Some(false) => "Assistant A: [[3]]\nAssistant B: [[9]]".to_owned(),
                    None => shared
                        .judge_reply
                        .lock()
                        .clone()
                        .unwrap_or_else(|| DEFAULT_JUDGE_REPLY.to_owned()),
                };
                let mut answer: Value =
                    serde_json::from_str(fixtures.answer).expect("fixture is JSON");
                answer["model"] = Value::String(model.to_owned());
                if let Some(content) = answer.pointer_mut("/choices/0/message/content") {
                    *content = Value::String(reply);
                }
                return json_response(StatusCode::OK, &answer.to_string(), &[]);
            }
            if stream {
                let events = if json_answer {
                    std::borrow::Cow::Owned(json_content_stream(fixtures.stream))
                } else {
                    std::borrow::Cow::Borrowed(fixtures.stream)
                };
                sse_response_watched(
                    &events,
                    "\n\n",
                    false,
                    Some(shared.abandoned_streams.clone()),
                    shared.stream_pause(),
                )
            } else {
                let answer = if json_answer {
                    with_json_content(fixtures.answer, model)
                } else {
                    with_model(fixtures.answer, "/model", model)
                };
                json_response(
                    StatusCode::OK,
                    &answer,
                    &[("x-request-id", "req_fake0123456789")],
                )
            }
        }
    }
}

async fn openai_embeddings(
    provider: &'static str,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = authorization(&headers);
    shared.record(
        provider,
        "/embeddings".into(),
        bearer.clone(),
        &headers,
        &body,
    );
    if provider != "ollama"
        && !shared.key_ok(bearer.as_deref().and_then(|v| v.strip_prefix("Bearer ")))
    {
        return json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("openai/error_invalid_api_key.json"),
            &[],
        );
    }
    let fixture = if provider == "ollama" {
        fixture!("ollama/embeddings.json")
    } else {
        fixture!("openai/embeddings.json")
    };
    json_response(StatusCode::OK, fixture, &[])
}

/// Records an Anthropic request and checks its `x-api-key`: the parsed body, or the 401.
fn anthropic_request(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Response> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = shared.record("anthropic", path.into(), key.clone(), headers, body);
    if !shared.key_ok(key.as_deref()) {
        return Err(json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("anthropic/error_authentication.json"),
            &[],
        ));
    }
    Ok(request)
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, n a character count over four (the
/// real API tokenises; the shape is what matters here).
async fn anthropic_count_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match anthropic_request(&shared, "/v1/messages/count_tokens", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if request.get("messages").and_then(Value::as_array).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            fixture!("anthropic/error_invalid_request.json"),
            &[],
        );
    }
    let characters = request["messages"].to_string().len() + request["system"].to_string().len();
    json_response(
        StatusCode::OK,
        &format!("{{\"input_tokens\":{}}}", characters.div_ceil(4)),
        &[],
    )
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match anthropic_request(&shared, "/v1/messages", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if headers.get("anthropic-version").is_none() || request.get("max_tokens").is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            fixture!("anthropic/error_invalid_request.json"),
            &[],
        );
    }
    // The real Anthropic's rules for the real model names.
    if let Some(refusal) = strict::anthropic_messages(&request) {
        return refusal_response(refusal, &[("request-id", "req_fake_strict")]);
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // A forced tool (JSON mode, or tool_choice naming a function) is answered with that tool;
    // `tool_choice: {"type": "any"}` (a real model only) with the last tool of `tools`, a
    // deterministic stand-in for the model's own choice.
    let any_tool = (!strict::is_fake_model(model)
        && request.pointer("/tool_choice/type").and_then(Value::as_str) == Some("any"))
    .then(|| {
        request
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|tools| tools.last())
            .and_then(|tool| tool.get("name"))
            .and_then(Value::as_str)
    })
    .flatten();
    let forced_tool = request
        .pointer("/tool_choice/name")
        .and_then(Value::as_str)
        .or(any_tool);
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("anthropic/error_rate_limit.json"),
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::from_u16(529).unwrap(),
            fixture!("anthropic/error_overloaded.json"),
            &[],
        ),
        "fake-flaky" if shared.flaky_fails() => json_response(
            StatusCode::from_u16(529).unwrap(),
            fixture!("anthropic/error_overloaded.json"),
            &[],
        ),
        "fake-missing-model" => json_response(
            StatusCode::NOT_FOUND,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: fake-missing-model"}}"#,
            &[],
        ),
        "fake-garbage" => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        "fake-stream-cut" if stream => {
            sse_response(fixture!("anthropic/message_stream.sse"), "\n\n", true)
        }
        _ if model == "fake-tools" || forced_tool.is_some() => {
            if stream {
                let events = fixture!("anthropic/message_tool_use_stream.sse");
                // The named tool's stream stays the fixture's, as before; the `any` choice
                // streams the chosen tool's name.
                match any_tool.filter(|_| forced_tool == any_tool) {
                    Some(name) => {
                        let quoted = Value::String(name.to_owned()).to_string();
                        let events = events
                            .replace(r#""name":"get_weather""#, &format!(r#""name":{quoted}"#));
                        sse_response(&events, "\n\n", false)
                    }
                    None => sse_response(events, "\n\n", false),
                }
            } else {
                let mut answer: Value =
                    serde_json::from_str(fixture!("anthropic/message_tool_use.json")).unwrap();
                if let Some(name) = forced_tool {
                    answer["content"] = json!([{"type": "tool_use", "id": "toolu_fake01", "name": name, "input": {"city": "Paris"}}]);
                }
                json_response(StatusCode::OK, &answer.to_string(), &[])
            }
        }
        _ if stream => sse_response_watched(
            fixture!("anthropic/message_stream.sse"),
            "\n\n",
            false,
            Some(shared.abandoned_streams.clone()),
            shared.stream_pause(),
        ),
        _ => json_response(
            StatusCode::OK,
            fixture!("anthropic/message.json"),
            &[("request-id", "req_fake01")],
        ),
    }
}

async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.record(
        "gemini",
        format!("/v1beta/models/{call}"),
        key.clone(),
        &headers,
        &body,
    );
    if !shared.key_ok(key.as_deref()) {
        return json_response(
            StatusCode::BAD_REQUEST,
            fixture!("gemini/error_invalid_api_key.json"),
            &[],
        );
    }
    let Some((model, method)) = call.split_once(':') else {
        return json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        );
    };
    match (model, method) {
        ("fake-error-429", _) => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("gemini/error_rate_limit.json"),
            &[],
        ),
        ("fake-error-500", _) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            fixture!("gemini/error_unavailable.json"),
            &[],
        ),
        ("fake-flaky", _) if shared.flaky_fails() => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            fixture!("gemini/error_unavailable.json"),
            &[],
        ),
        ("fake-missing-model", _) => json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        ),
        ("fake-garbage", _) => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        (_, "batchEmbedContents") => json_response(
            StatusCode::OK,
            fixture!("gemini/batch_embed_contents.json"),
            &[],
        ),
        (_, "embedContent") => {
            json_response(StatusCode::OK, fixture!("gemini/embed_content.json"), &[])
        }
        ("fake-tools", "generateContent") => json_response(
            StatusCode::OK,
            fixture!("gemini/generate_content_function_call.json"),
            &[],
        ),
        ("fake-tools", "streamGenerateContent") => sse_response(
            fixture!("gemini/stream_function_call.sse"),
            "\r\n\r\n",
            false,
        ),
        ("fake-stream-cut", "streamGenerateContent") => sse_response(
            fixture!("gemini/stream_generate_content.sse"),
            "\r\n\r\n",
            true,
        ),
        (_, "generateContent") => json_response(
            StatusCode::OK,
            fixture!("gemini/generate_content.json"),
            &[],
        ),
        (_, "streamGenerateContent") => sse_response_watched(
            fixture!("gemini/stream_generate_content.sse"),
            "\r\n\r\n",
            false,
            Some(shared.abandoned_streams.clone()),
            shared.stream_pause(),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(fake: &FakeProviders, path: &str, body: Value) -> (u16, HeaderMap, String) {
        let response = reqwest::Client::new()
            .post(format!("http://{}{path}", fake.addr))
            .header("authorization", "Bearer sk-test")
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    /// The concatenated `delta.content` of an OpenAI chat stream.
    fn streamed_content(stream: &str) -> String {
        stream
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter_map(|chunk| {
                chunk
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_fake_openai_refuses_what_openai_refuses_for_real_models_only() {
        let fake = FakeProviders::start(vec![]).await.unwrap();
        let too_many = |model: &str| json!({"model": model, "max_tokens": 32000, "messages": [{"role": "user", "content": "Hi"}]});
        let (status, _, body) = post(&fake, "/v1/chat/completions", too_many("gpt-4o")).await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_value");
        assert_eq!(body["error"]["param"], "max_tokens");
        // Groq, Ollama and the fake models are as they were.
        for (path, model) in [
            ("/groq/openai/v1/chat/completions", "gpt-4o"),
            ("/ollama/v1/chat/completions", "gpt-4o"),
            ("/v1/chat/completions", "fake-model"),
        ] {
            let (status, _, _) = post(&fake, path, too_many(model)).await;
            assert_eq!(status, 200, "{path} {model}");
        }
    }

    #[tokio::test]
    async fn the_fake_anthropic_refuses_what_anthropic_refuses_for_real_models_only() {
        let fake = FakeProviders::start(vec![]).await.unwrap();
        let with_system = |model: &str| {
            json!({"model": model, "max_tokens": 100, "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ]})
        };
        let (status, headers, body) = post(
            &fake,
            "/anthropic/v1/messages",
            with_system("claude-3-5-haiku-latest"),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(headers["request-id"], "req_fake_strict");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        for model in ["claude-opus-4-6", "fake-model"] {
            let (status, _, _) = post(&fake, "/anthropic/v1/messages", with_system(model)).await;
            assert_eq!(status, 200, "{model}");
        }
    }

    #[tokio::test]
    async fn tool_choice_any_calls_the_last_tool() {
        let fake = FakeProviders::start(vec![]).await.unwrap();
        let mut request = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [
                {"name": "get_weather", "input_schema": {"type": "object"}},
                {"name": "look_up_city", "input_schema": {"type": "object"}},
            ],
            "tool_choice": {"type": "any"},
        });
        let (status, _, body) = post(&fake, "/anthropic/v1/messages", request.clone()).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["stop_reason"], "tool_use");
        assert_eq!(
            body["content"],
            json!([{"type": "tool_use", "id": "toolu_fake01", "name": "look_up_city", "input": {"city": "Paris"}}])
        );

        request["stream"] = json!(true);
        let (status, _, stream) = post(&fake, "/anthropic/v1/messages", request.clone()).await;
        assert_eq!(status, 200);
        assert!(stream.contains(r#""name":"look_up_city""#), "{stream}");
        assert!(!stream.contains("get_weather"), "{stream}");
        assert!(stream.contains("event: message_stop"), "{stream}");

        // A fake model is answered as before.
        request["model"] = json!("fake-model");
        request["stream"] = json!(false);
        let (_, _, body) = post(&fake, "/anthropic/v1/messages", request).await;
        assert!(
            body.contains("Hello from the fake Anthropic server."),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_json_schema_answer_is_the_json_text() {
        let fake = FakeProviders::start(vec![]).await.unwrap();
        let mut request = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Which city?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}}},
        });
        let (status, _, body) = post(&fake, "/v1/chat/completions", request.clone()).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(body["model"], "gpt-4o-mini");

        request["stream"] = json!(true);
        let (status, _, stream) = post(&fake, "/v1/chat/completions", request.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(streamed_content(&stream), r#"{"city":"Paris"}"#);
        assert!(stream.contains(r#""finish_reason":"stop""#), "{stream}");
        assert!(
            stream.contains(r#""usage":{"prompt_tokens":19"#),
            "{stream}"
        );
        assert!(stream.ends_with("data: [DONE]\n\n"), "{stream}");

        // JSON mode, and the fake models, keep the greeting.
        request["stream"] = json!(false);
        request["response_format"] = json!({"type": "json_object"});
        let (_, _, body) = post(&fake, "/v1/chat/completions", request.clone()).await;
        assert!(
            body.contains("Hello from the fake OpenAI server."),
            "{body}"
        );
        request["response_format"] =
            json!({"type": "json_schema", "json_schema": {"name": "city"}});
        request["model"] = json!("fake-model");
        let (_, _, body) = post(&fake, "/v1/chat/completions", request).await;
        assert!(
            body.contains("Hello from the fake OpenAI server."),
            "{body}"
        );
    }

    #[test]
    fn the_json_stream_keeps_every_other_event() {
        let stream = json_content_stream(fixture!("openai/chat_completion_stream.sse"));
        assert_eq!(streamed_content(&stream), r#"{"city":"Paris"}"#);
        // The role chunk, two content chunks, the finish chunk, the usage chunk and [DONE].
        assert_eq!(stream.matches("data: ").count(), 6, "{stream}");
    }
}
