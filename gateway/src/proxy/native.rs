//! Pass-through, decided per attempt: a request in a provider's own API — Anthropic's Messages,
//! OpenAI's Responses — goes to that provider's models as the client wrote it (`model` set to
//! the routed one and the body adapted to that model by `crate::adapt`; `store: false` for
//! OpenAI: the gateway keeps nothing, and asks the provider not to either), and the answer comes
//! back byte for byte. So what chat cannot express (Anthropic's prompt-caching marks and extended
//! thinking, OpenAI's hosted tools and reasoning items) reaches the provider, also when the route
//! mixes providers: the other providers' attempts get the translation to chat. The pipeline
//! around it is the chat one (keys, plan limits, quota, routing, retries and fallbacks, usage,
//! read from the answer as it passes). With the response cache on, every attempt is translated:
//! the cache keeps chat answers.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::respond;
use super::usage::{StreamEnd, StreamGuard, UsageContext};
use crate::error::UpstreamError;
use crate::openai::Usage;
use crate::providers::openai::OpenAiCompatible;
use crate::providers::{ProviderKind, UpstreamCall, anthropic, read_body};
use crate::routing;

/// The provider APIs a request may already be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Native {
    /// Anthropic's Messages API.
    Messages,
    /// OpenAI's Responses API.
    Responses,
}

impl Native {
    pub(super) fn provider(self) -> ProviderKind {
        match self {
            Native::Messages => ProviderKind::Anthropic,
            Native::Responses => ProviderKind::OpenAi,
        }
    }

    /// The client's body for one routed model, adapted to that model (`crate::adapt`).
    fn body_for(self, body: &Value, model: &str) -> (Value, crate::adapt::Notes) {
        let mut sent = body.clone();
        sent["model"] = Value::from(model);
        if let Some(fields) = sent.as_object_mut() {
            fields.remove("models");
        }
        match self {
            Native::Messages => crate::adapt::messages(&sent, model),
            Native::Responses => {
                sent["store"] = Value::Bool(false);
                crate::adapt::responses(&sent, model)
            }
        }
    }

    async fn send(
        self,
        call: &UpstreamCall<'_>,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        match self {
            Native::Messages => {
                anthropic::send_native(
                    call,
                    "messages",
                    body,
                    header_text(headers, "anthropic-version").as_deref(),
                    header_text(headers, "anthropic-beta").as_deref(),
                )
                .await
            }
            Native::Responses => {
                OpenAiCompatible::new(ProviderKind::OpenAi)
                    .send_responses(call, body)
                    .await
            }
        }
    }

    /// The event that tells the client the stream broke off, in the API's own form.
    fn broken_stream(self, next_sequence: u64) -> Bytes {
        const MESSAGE: &str = "the provider's stream broke off";
        match self {
            Native::Messages => crate::dialects::named_event(
                "error",
                &crate::dialects::messages::error_body(502, MESSAGE),
            ),
            Native::Responses => crate::dialects::named_event(
                "error",
                &serde_json::json!({"type": "error", "code": "stream_interrupted",
                    "message": MESSAGE, "param": null, "sequence_number": next_sequence}),
            ),
        }
    }
}

/// What came back: a whole answer, or a stream whose first bytes have arrived.
pub(super) enum Passed {
    Whole(Bytes),
    Stream(Bytes, reqwest::Response),
}

/// The request as the client wrote it, in the API of the provider it names: what an attempt of
/// that provider is sent (the others get the translation to chat).
#[derive(Clone, Copy)]
pub(super) struct NativeBody<'b> {
    pub(super) api: Native,
    pub(super) body: &'b Value,
}

impl NativeBody<'_> {
    /// Whether this decision's attempt passes the body through.
    pub(super) fn serves(&self, decision: &routing::RouteDecision<'_>) -> bool {
        decision.endpoint.kind == self.api.provider()
    }

    /// One attempt: the client's body, adapted to the decision's model, sent to its provider;
    /// for a stream, the first bytes awaited.
    pub(super) async fn attempt(
        self,
        call: &UpstreamCall<'_>,
        model: &str,
        headers: &HeaderMap,
        stream: bool,
    ) -> Result<(Passed, crate::adapt::Notes), UpstreamError> {
        let provider = self.api.provider().id();
        let (sent, notes) = self.api.body_for(self.body, model);
        call.endpoint.refused()?;
        let response = self.api.send(call, &sent, headers).await?;
        let passed = if stream {
            first_bytes(provider, response, call.timeout).await?
        } else {
            Passed::Whole(read_body(provider, call.timeout, response).await?)
        };
        Ok((passed, notes))
    }

    /// The provider's answer back to the client as it came, its usage read on the way.
    pub(super) fn respond(
        self,
        passed: Passed,
        decision: &routing::RouteDecision<'_>,
        usage: &UsageContext,
        stream_slot: Option<crate::abuse::StreamSlot>,
        idle: std::time::Duration,
    ) -> Response {
        let mut response = match passed {
            Passed::Whole(bytes) => {
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let mut sniffer = UsageSniffer::default();
                sniffer.whole(&answer);
                let model = sniffer
                    .model
                    .clone()
                    .unwrap_or_else(|| decision.model.clone());
                usage.record(decision, &model, StatusCode::OK, sniffer.usage(), None);
                respond::json(bytes, decision)
            }
            Passed::Stream(first, rest) => {
                let guard = StreamGuard::new(usage, decision, false).holding(stream_slot);
                respond::sse(passed_through(self.api, first, rest, guard, idle), decision)
            }
        };
        response.extensions_mut().insert(PassedThrough);
        response
    }
}

/// Marks an answer that is already in the client's API: the dialect routes do not convert it.
#[derive(Clone, Copy)]
pub(super) struct PassedThrough;

pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Waits for the stream's first bytes, so that a failure at byte zero is a clean error (and may
/// be retried) rather than a broken 200.
async fn first_bytes(
    provider: &'static str,
    mut response: reqwest::Response,
    timeout: std::time::Duration,
) -> Result<Passed, UpstreamError> {
    match crate::metrics::upstream(tokio::time::timeout(timeout, response.chunk())).await {
        Ok(Ok(Some(first))) => Ok(Passed::Stream(first, response)),
        Ok(Ok(None)) => Err(UpstreamError::InvalidResponse {
            provider,
            detail: "the stream was empty".into(),
        }),
        Ok(Err(err)) => Err(crate::providers::transport_error(provider, timeout, err)),
        Err(_) => Err(UpstreamError::Timeout {
            provider,
            seconds: timeout.as_secs().max(1),
        }),
    }
}

/// The provider's bytes as they come, read for usage on the way; a stream that breaks off or
/// stalls ends with the API's own `error` event.
fn passed_through(
    native: Native,
    first: Bytes,
    rest: reqwest::Response,
    mut guard: StreamGuard,
    idle: std::time::Duration,
) -> Body {
    let mut sniffer = UsageSniffer::default();
    sniffer.feed(&first);
    guard.usage = sniffer.usage();
    Body::new(PassThroughBody {
        native,
        first: Some(first),
        rest: Some(rest.bytes_stream()),
        sniffer,
        guard,
        timer: crate::providers::IdleTimer::new(idle),
    })
}

/// [`passed_through`]'s body, polled by hyper frame by frame: each read of the provider's body
/// goes out as it came.
struct PassThroughBody<S> {
    native: Native,
    first: Option<Bytes>,
    /// `None` once the provider's body has ended, broken off or stalled.
    rest: Option<S>,
    sniffer: UsageSniffer,
    /// Records the request's usage when the body is dropped.
    guard: StreamGuard,
    timer: crate::providers::IdleTimer,
}

impl<S> http_body::Body for PassThroughBody<S>
where
    S: futures::Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use futures::StreamExt as _;
        use std::task::Poll;

        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(first))));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let broken = match rest.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.timer.gave();
                this.sniffer.feed(&bytes);
                this.guard.usage = this.sniffer.usage();
                return Poll::Ready(Some(Ok(http_body::Frame::data(bytes))));
            }
            Poll::Ready(None) => {
                this.guard.end(StreamEnd::Finished);
                this.rest = None;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(_))) => true,
            Poll::Pending => this.timer.expired(cx),
        };
        if !broken {
            return Poll::Pending;
        }
        this.guard
            .end(StreamEnd::UpstreamFailed(Some("stream_interrupted".into())));
        this.rest = None;
        let event = this.native.broken_stream(this.sniffer.next_sequence);
        Poll::Ready(Some(Ok(http_body::Frame::data(event))))
    }
}

/// Reads usage out of the answer as it passes: Anthropic's `message_start` (input tokens, the
/// model) and `message_delta` (output tokens so far), OpenAI's `response.completed` (or
/// `.incomplete`), or a whole message or response. Only `data:` lines are looked at; the bytes
/// themselves pass unchanged.
#[derive(Debug, Default)]
struct UsageSniffer {
    pending: Vec<u8>,
    input_tokens: u64,
    output_tokens: u64,
    model: Option<String>,
    /// The Responses API's next `sequence_number`.
    next_sequence: u64,
}

impl UsageSniffer {
    /// Reads the lines `bytes` ends, in place; only a line cut across two reads is kept (and
    /// copied) until its end comes.
    fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if !self.pending.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.keep(rest);
                return;
            };
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&rest[..end]);
            self.line(&line);
            rest = &rest[end + 1..];
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.line(&rest[..end]);
            rest = &rest[end + 1..];
        }
        self.keep(rest);
    }

    /// The start of a line, until its end comes. A line longer than a stream line may be is
    /// not one the provider meant: it is dropped.
    fn keep(&mut self, start: &[u8]) {
        if self.pending.len() + start.len() > crate::providers::MAX_EVENT_LINE_BYTES {
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(start);
        }
    }

    /// One line: a `data:` line is probed for what it names (its text is skipped, not built).
    fn line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data: ") else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<EventProbe<'_>>(data) else {
            return;
        };
        if let Some(sequence) = event.sequence_number.as_ref().and_then(Value::as_u64) {
            self.next_sequence = sequence + 1;
        }
        let answer = |answer: Option<Value>| answer.unwrap_or(Value::Null);
        match event.kind.as_deref() {
            Some("message_start") => self.whole(&answer(event.message)),
            Some("message_delta") => self.counts(&answer(event.usage)),
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                self.whole(&answer(event.response))
            }
            _ => {}
        }
    }

    /// A whole Anthropic message or OpenAI response (or the one a stream event carries).
    fn whole(&mut self, answer: &Value) {
        if let Some(model) = answer["model"].as_str() {
            self.model = Some(model.to_owned());
        }
        self.counts(&answer["usage"]);
    }

    fn counts(&mut self, usage: &Value) {
        // Anthropic counts cached input apart from `input_tokens`; OpenAI inside it.
        let input: u64 = [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ]
        .iter()
        .filter_map(|field| usage[*field].as_u64())
        .sum();
        if input > 0 {
            self.input_tokens = input;
        }
        if let Some(output) = usage["output_tokens"].as_u64() {
            self.output_tokens = output;
        }
    }

    fn usage(&self) -> Usage {
        Usage::from_counts(self.input_tokens, self.output_tokens)
    }
}

/// What [`UsageSniffer`] reads of an event: its type, its number, and the message, response
/// or usage that carry the counts (small objects, or one whole response at the end). Anything
/// else — the text of every delta — is skipped without being built.
#[derive(serde::Deserialize)]
struct EventProbe<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    sequence_number: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_the_events_however_they_are_split() {
        let wire = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
        );
        for split in [1, 7, wire.len()] {
            let mut sniffer = UsageSniffer::default();
            for piece in wire.as_bytes().chunks(split) {
                sniffer.feed(piece);
            }
            let usage = sniffer.usage();
            assert_eq!(
                (usage.prompt_tokens, usage.completion_tokens),
                (30, 15),
                "split {split}"
            );
            assert_eq!(sniffer.model.as_deref(), Some("claude-x"));
        }
    }

    /// A line past the bound is dropped, not kept whole: what is kept stays small and the
    /// events after it are read.
    #[test]
    fn a_line_without_end_is_not_kept() {
        let mut sniffer = UsageSniffer::default();
        sniffer.feed(b"data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"");
        let piece = vec![b'a'; 1024 * 1024];
        for _ in 0..9 {
            sniffer.feed(&piece);
        }
        assert!(sniffer.pending.len() <= crate::providers::MAX_EVENT_LINE_BYTES);
        sniffer.feed(
            b"\"}}\n\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\r\n\r\n",
        );
        assert!(sniffer.pending.is_empty());
        assert_eq!(sniffer.usage().completion_tokens, 7);
    }

    #[test]
    fn usage_and_sequence_are_read_from_responses_events() {
        let mut sniffer = UsageSniffer::default();
        sniffer.feed(b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"delta\":\"Hi\"}\n\n");
        assert_eq!(sniffer.next_sequence, 5);
        sniffer.feed(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":5,\"response\":{\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":19,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":10}}}\n\n");
        let usage = sniffer.usage();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (19, 10));
        assert_eq!(sniffer.model.as_deref(), Some("gpt-4o-mini"));
    }
}
