//! Pass-through: a Messages request whose every routed model is Anthropic's goes to Anthropic as
//! the client wrote it (only `model` is set to the routed one), and the answer comes back byte for
//! byte, so that what chat cannot express (prompt-caching marks, extended thinking, betas)
//! reaches the provider. The pipeline around it is the chat one: keys, plan limits, quota,
//! routing, retries and fallbacks among Anthropic models, usage (read from the answer as it
//! passes). A route that leaves Anthropic, or asks for the response cache, is translated instead.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::attempts;
use super::caller::Caller;
use super::usage::{StreamEnd, StreamGuard, UsageContext};
use super::{admission, hops, respond};
use crate::error::{ApiError, UpstreamError};
use crate::openai::{ChatCompletionRequest, Usage};
use crate::providers::{ProviderKind, UpstreamCall, anthropic, read_body};
use crate::routing;
use crate::state::GatewayState;

/// What came back from Anthropic: a whole message, or a stream whose first bytes have arrived.
enum Passed {
    Whole(Bytes),
    Stream(Bytes, reqwest::Response),
}

/// Serves the Messages request `body` by pass-through when the whole route is Anthropic's;
/// `None` when it must be translated.
pub(super) async fn messages(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    chat: &ChatCompletionRequest,
    fallbacks: &[String],
    body: &Value,
) -> Option<Result<Response, ApiError>> {
    let started = Instant::now();
    let decisions = match routing::resolve_chat(
        &state.router,
        chat,
        fallbacks,
        &caller.account.providers,
        &caller.policy,
    ) {
        Ok(decisions) => decisions,
        Err(err) => return Some(Err(err.into())),
    };
    if !decisions
        .iter()
        .all(|decision| decision.endpoint.kind == ProviderKind::Anthropic)
        || super::cache::wanted(state, headers, caller).unwrap_or(true)
    {
        return None;
    }
    Some(serve(state, caller, headers, chat, &decisions, body, started).await)
}

async fn serve(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    chat: &ChatCompletionRequest,
    decisions: &[routing::RouteDecision<'_>],
    body: &Value,
    started: Instant,
) -> Result<Response, ApiError> {
    let stream = chat.wants_stream();
    admission::check_streaming(state, &caller.account, stream)?;
    let stream_slot = admission::open_stream(state, caller.key.key_id, stream)?;
    admission::admit(state, &caller.account).await?;
    let usage = UsageContext::new(state, caller, started);
    let version = header_text(headers, "anthropic-version");
    let beta = header_text(headers, "anthropic-beta");

    let (decision, passed) = attempts::first_success(
        decisions,
        &state.settings.retry,
        started,
        |decision| {
            let call = UpstreamCall {
                http: &state.http,
                endpoint: decision.endpoint,
                timeout: state.settings.upstream_timeout,
                hops: hops::incoming(headers) + 1,
            };
            let mut sent = body.clone();
            sent["model"] = Value::from(decision.model.as_str());
            if let Some(fields) = sent.as_object_mut() {
                fields.remove("models");
            }
            let (version, beta) = (version.clone(), beta.clone());
            async move {
                call.endpoint.refused()?;
                let response =
                    anthropic::send_native(&call, &sent, version.as_deref(), beta.as_deref())
                        .await?;
                if !stream {
                    return Ok(Passed::Whole(
                        read_body("anthropic", call.timeout, response).await?,
                    ));
                }
                first_bytes(response, call.timeout).await
            }
        },
        |decision, failure| usage.record_failure(decision, failure),
    )
    .await?;

    Ok(match passed {
        Passed::Whole(bytes) => {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut sniffer = UsageSniffer::default();
            sniffer.message(&answer);
            let model = sniffer
                .model
                .clone()
                .unwrap_or_else(|| decision.model.clone());
            usage.record(decision, &model, StatusCode::OK, sniffer.usage(), None);
            respond::json(bytes, decision)
        }
        Passed::Stream(first, rest) => {
            let guard = StreamGuard::new(&usage, decision, false).holding(stream_slot);
            respond::sse(
                passed_through(first, rest, guard, state.settings.upstream_timeout),
                decision,
            )
        }
    })
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Waits for the stream's first bytes, so that a failure at byte zero is a clean error (and may
/// be retried) rather than a broken 200.
async fn first_bytes(
    mut response: reqwest::Response,
    timeout: std::time::Duration,
) -> Result<Passed, UpstreamError> {
    match tokio::time::timeout(timeout, response.chunk()).await {
        Ok(Ok(Some(first))) => Ok(Passed::Stream(first, response)),
        Ok(Ok(None)) => Err(UpstreamError::InvalidResponse {
            provider: "anthropic",
            detail: "the stream was empty".into(),
        }),
        Ok(Err(err)) => Err(crate::providers::transport_error("anthropic", timeout, err)),
        Err(_) => Err(UpstreamError::Timeout {
            provider: "anthropic",
            seconds: timeout.as_secs().max(1),
        }),
    }
}

/// The provider's bytes as they come, read for usage on the way; a stream that breaks off or
/// stalls ends with Anthropic's `error` event.
fn passed_through(
    first: Bytes,
    mut rest: reqwest::Response,
    mut guard: StreamGuard,
    idle: std::time::Duration,
) -> Body {
    let frames = async_stream::stream! {
        let mut sniffer = UsageSniffer::default();
        sniffer.feed(&first);
        guard.usage = sniffer.usage();
        yield Ok::<_, std::convert::Infallible>(first);
        loop {
            match tokio::time::timeout(idle, rest.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    sniffer.feed(&bytes);
                    guard.usage = sniffer.usage();
                    yield Ok(bytes);
                }
                Ok(Ok(None)) => {
                    guard.end(StreamEnd::Finished);
                    break;
                }
                Ok(Err(_)) | Err(_) => {
                    guard.end(StreamEnd::UpstreamFailed(Some("stream_interrupted".into())));
                    let error = crate::dialects::messages::error_body(502, "the provider's stream broke off");
                    yield Ok(crate::dialects::named_event("error", &error));
                    break;
                }
            }
        }
    };
    Body::from_stream(frames)
}

/// Reads usage out of Anthropic's answer: `message_start` (input tokens, the model) and
/// `message_delta` (output tokens so far), or a whole message. Only `data:` lines are looked at;
/// the bytes themselves pass unchanged.
#[derive(Debug, Default)]
struct UsageSniffer {
    pending: Vec<u8>,
    input_tokens: u64,
    output_tokens: u64,
    model: Option<String>,
}

impl UsageSniffer {
    fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue;
            };
            let Ok(event) = serde_json::from_slice::<Value>(data) else {
                continue;
            };
            match event["type"].as_str() {
                Some("message_start") => self.message(&event["message"]),
                Some("message_delta") => self.counts(&event["usage"]),
                _ => {}
            }
        }
        // A line longer than any usage event is not one: it need not be kept whole.
        if self.pending.len() > 64 * 1024 {
            self.pending.clear();
        }
    }

    fn message(&mut self, message: &Value) {
        if let Some(model) = message["model"].as_str() {
            self.model = Some(model.to_owned());
        }
        self.counts(&message["usage"]);
    }

    fn counts(&mut self, usage: &Value) {
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
        let prompt = u32::try_from(self.input_tokens).unwrap_or(u32::MAX);
        let completion = u32::try_from(self.output_tokens).unwrap_or(u32::MAX);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
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
}
