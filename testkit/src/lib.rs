//! Fake provider servers for tests. They listen on 127.0.0.1, speak the provider's documented wire
//! format (status codes, headers, error bodies) from fixture files, and record what they were sent.
//!
//! The model name picks the behaviour, so a test can ask for any outcome through the gateway:
//! - `fake-error-429` → 429 with `Retry-After: 20` and OpenAI's rate-limit body
//! - `fake-error-500` → 500 with OpenAI's server-error body
//! - `fake-missing-model` → 404 `model_not_found`
//! - `fake-garbage` → 200 with a body that is not a chat completion
//! - anything else → 200 with the `chat.completion` fixture, `model` set to the one asked for.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;

pub const OPENAI_CHAT_COMPLETION: &str = include_str!("../fixtures/openai/chat_completion.json");
const OPENAI_INVALID_KEY: &str = include_str!("../fixtures/openai/error_invalid_api_key.json");
const OPENAI_RATE_LIMIT: &str = include_str!("../fixtures/openai/error_rate_limit.json");
const OPENAI_MODEL_NOT_FOUND: &str = include_str!("../fixtures/openai/error_model_not_found.json");
const OPENAI_SERVER_ERROR: &str = include_str!("../fixtures/openai/error_server.json");

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    /// Keys the fake accepts; empty means any.
    accepted_keys: Vec<String>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running fake OpenAI API. Its base URL ends in `/v1`, as the OpenAI SDK's does.
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOpenAi {
    /// Starts on a free port of 127.0.0.1, accepting only `accepted_keys` (any key if empty).
    pub async fn start(accepted_keys: Vec<String>) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("a valid address"), accepted_keys).await
    }

    pub async fn start_on(addr: SocketAddr, accepted_keys: Vec<String>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { accepted_keys, requests: Mutex::default() });
        let app = openai_router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, server })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    /// Serves until the process ends (for the `fake-providers` binary).
    pub async fn wait(mut self) {
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn openai_router(shared: Arc<Shared>) -> Router {
    Router::new().route("/v1/chat/completions", post(openai_chat)).with_state(shared)
}

fn json_response(status: StatusCode, body: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-request-id"), "req_fake0123456789"),
            (header::HeaderName::from_static("openai-processing-ms"), "12"),
        ],
        body.to_owned(),
    )
        .into_response()
}

async fn openai_chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().push(RecordedRequest {
        path: "/v1/chat/completions".into(),
        authorization: authorization.clone(),
        body: parsed.clone(),
    });

    let presented = authorization.as_deref().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    let key_ok = !presented.is_empty() && (shared.accepted_keys.is_empty() || shared.accepted_keys.iter().any(|k| k == presented));
    if !key_ok {
        return json_response(StatusCode::UNAUTHORIZED, OPENAI_INVALID_KEY);
    }
    if parsed.get("messages").and_then(Value::as_array).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}"#,
        );
    }
    let model = parsed.get("model").and_then(Value::as_str).unwrap_or_default();
    match model {
        "fake-error-429" => {
            let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, OPENAI_RATE_LIMIT);
            response.headers_mut().insert(header::RETRY_AFTER, "20".parse().expect("a valid header"));
            response
        }
        "fake-error-500" => json_response(StatusCode::INTERNAL_SERVER_ERROR, OPENAI_SERVER_ERROR),
        "fake-missing-model" => json_response(StatusCode::NOT_FOUND, OPENAI_MODEL_NOT_FOUND),
        "fake-garbage" => json_response(StatusCode::OK, r#"{"unexpected": true}"#),
        _ => {
            let mut completion: Value = serde_json::from_str(OPENAI_CHAT_COMPLETION).expect("fixture is JSON");
            completion["model"] = Value::String(model.to_owned());
            json_response(StatusCode::OK, &completion.to_string())
        }
    }
}
