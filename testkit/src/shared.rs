//! What the fake keeps between requests: the requests it was sent, its keys, and the knobs a
//! test turns (stream pace, the judge's reply).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use parking_lot::Mutex;
use serde_json::Value;

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
pub(crate) struct Shared {
    /// Keys the fake accepts; empty means any non-empty key.
    pub(crate) accepted_keys: Vec<String>,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) flaky_calls: AtomicU32,
    /// Streams whose reader went away before the last event: the gateway cancelled the call.
    pub(crate) abandoned_streams: Arc<AtomicU32>,
    /// Pause between the events of a normal stream, in milliseconds (0: the default 20 ms).
    pub(crate) stream_pause_ms: std::sync::atomic::AtomicU64,
    /// What the fake answers a quality judge's request; `None`: the default ratings.
    pub(crate) judge_reply: Mutex<Option<String>>,
    /// How long the judge takes to answer, in milliseconds.
    pub(crate) judge_pause_ms: std::sync::atomic::AtomicU64,
    /// The judge answers with the provider's server error (500) instead of ratings.
    pub(crate) judge_fails: std::sync::atomic::AtomicBool,
    /// Labelled questions (the first user message) the judge grades by their label: the served
    /// answer adequate or not (the calibration benchmark's stand-in for a real judge).
    pub(crate) judge_labels: Mutex<std::collections::HashMap<String, bool>>,
}

/// How the gateway's quality judge's system message starts (MT-Bench's judge prompt).
pub const JUDGE_PROMPT_START: &str = "Please act as an impartial judge";
pub(crate) const DEFAULT_JUDGE_REPLY: &str = "Both answers are helpful; B is a little more complete.\n\nAssistant A: [[8]]\nAssistant B: [[9]]";

impl Shared {
    pub(crate) fn stream_pause(&self) -> Duration {
        match self.stream_pause_ms.load(Ordering::SeqCst) {
            0 => DEFAULT_STREAM_PAUSE,
            ms => Duration::from_millis(ms),
        }
    }
}

pub(crate) const DEFAULT_STREAM_PAUSE: Duration = Duration::from_millis(20);

impl Shared {
    pub(crate) fn key_ok(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented.filter(|key| !key.is_empty()) else {
            return false;
        };
        self.accepted_keys.is_empty() || self.accepted_keys.iter().any(|k| k == presented)
    }

    pub(crate) fn record(
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
    pub(crate) fn flaky_fails(&self) -> bool {
        self.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0
    }
}
