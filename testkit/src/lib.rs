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

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../fixtures/", $path))
    };
}

mod anthropic;
mod gemini;
#[cfg(feature = "load")]
pub mod load_stats;
mod openai;
pub mod otlp;
mod respond;
mod shared;
pub mod smtp;
pub mod strict;
pub mod stripe;
pub mod stripe_prices;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;

use shared::Shared;
pub use shared::{JUDGE_PROMPT_START, RecordedRequest};

pub const OPENAI_CHAT_COMPLETION: &str = fixture!("openai/chat_completion.json");

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
            post(|s, h, b| openai::openai_like("openai", s, h, b)),
        )
        .route("/v1/responses", post(openai::openai_responses))
        .route(
            "/v1/models",
            get(|s, h| openai::openai_models("openai", s, h)),
        )
        .route(
            "/groq/openai/v1/models",
            get(|s, h| openai::openai_models("groq", s, h)),
        )
        .route(
            "/ollama/v1/models",
            get(|s, h| openai::openai_models("ollama", s, h)),
        )
        .route("/anthropic/v1/models", get(anthropic::anthropic_models))
        .route("/gemini/v1beta/models", get(gemini::gemini_models))
        .route(
            "/v1/embeddings",
            post(|s, h, b| openai::openai_embeddings("openai", s, h, b)),
        )
        .route(
            "/groq/openai/v1/chat/completions",
            post(|s, h, b| openai::openai_like("groq", s, h, b)),
        )
        .route(
            "/ollama/v1/chat/completions",
            post(|s, h, b| openai::openai_like("ollama", s, h, b)),
        )
        .route(
            "/ollama/v1/embeddings",
            post(|s, h, b| openai::openai_embeddings("ollama", s, h, b)),
        )
        .route("/anthropic/v1/messages", post(anthropic::anthropic))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(anthropic::anthropic_count_tokens),
        )
        .route("/gemini/v1beta/models/{call}", post(gemini::gemini))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use serde_json::json;

    use super::*;
    use crate::respond::json_content_stream;

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
