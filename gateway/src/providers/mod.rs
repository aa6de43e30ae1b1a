//! LLM providers behind one trait, [`ProviderApi`]; [`Provider`] dispatches to them by the wire
//! API of the provider's row in [`PROVIDERS`] (in the `gateway-types` crate, which the portal shares), where its facts live as data.
//!
//! OpenAI, Groq and Ollama speak OpenAI's API (`openai.rs`):
//! another such provider is one enum variant and one table row. Anthropic and Gemini are
//! converted (`anthropic/`, `gemini/`: request, response, stream and error conversions as pure
//! functions with their fixture tests, transport in `mod.rs`).

pub mod anthropic;
mod events;
pub mod gemini;
pub mod openai;

pub(crate) use events::{event_bytes, stream_error};

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

pub use gateway_types::{PROVIDERS, ProviderKind, ProviderSpec, WireApi};

use crate::error::{RequestError, UpstreamError};
use crate::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest, Usage,
};

/// A provider API key in memory. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct ProviderSecret(String);

impl ProviderSecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ProviderSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderSecret(<redacted>)")
    }
}

/// Where and as whom to call a provider for one account.
#[derive(Debug, Clone)]
pub struct ProviderEndpoint {
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: ProviderSecret,
    /// Set when the base URL leads where the gateway does not connect (a private address, plain
    /// http to a host the operator has not allowed): every call fails with it, unsent.
    pub egress_refusal: Option<crate::egress::EgressRefusal>,
    /// Set when the operator opened exactly this base URL's scheme, host and port for its kind:
    /// called through the client without the address check (the operator's own network).
    pub opened: bool,
}

impl ProviderEndpoint {
    /// The egress refusal as an upstream error, when there is one.
    pub(crate) fn refused(&self) -> Result<(), UpstreamError> {
        match &self.egress_refusal {
            None => Ok(()),
            Some(refusal) => Err(UpstreamError::Egress {
                provider: self.kind.id(),
                refusal: refusal.clone(),
            }),
        }
    }
}

/// Sent on every upstream call, whatever the provider's API: how many gateways the request will
/// have passed through (see `crate::proxy::hops`, which refuses a loop). A base URL may lead to
/// another gateway, or back to this one, through any provider kind.
pub const HOPS_HEADER: &str = "x-llm-gateway-hops";

/// What one upstream call needs besides the request.
pub struct UpstreamCall<'a> {
    pub http: &'a reqwest::Client,
    pub endpoint: &'a ProviderEndpoint,
    pub timeout: Duration,
    /// Gateways the call will have passed through, this one included (`x-llm-gateway-hops`).
    pub hops: u32,
}

impl UpstreamCall<'_> {
    /// The one place an upstream request starts: a POST carrying the hop count.
    pub(crate) fn post(&self, url: String) -> reqwest::RequestBuilder {
        self.http.post(url).header(HOPS_HEADER, self.hops)
    }
}

/// A successful non-streaming completion: the OpenAI-shaped body to send back, and what it cost.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    pub body: Bytes,
    pub served_model: String,
    pub usage: Usage,
}

impl ChatOutcome {
    pub fn from_completion(completion: &ChatCompletion) -> Result<Self, UpstreamError> {
        let body = serde_json::to_vec(completion).map_err(|e| UpstreamError::InvalidResponse {
            provider: "gateway",
            detail: e.to_string(),
        })?;
        Ok(Self {
            body: body.into(),
            served_model: completion.model.clone(),
            usage: completion.usage,
        })
    }
}

/// One OpenAI `chat.completion.chunk`, serialized, with the usage it reports (if any).
#[derive(Debug, Clone)]
pub struct StreamItem {
    pub json: Bytes,
    pub usage: Option<Usage>,
    /// The usage-only last chunk, forwarded only to clients that asked for it.
    pub usage_only: bool,
}

impl StreamItem {
    pub fn chunk(chunk: &ChatCompletionChunk) -> Self {
        Self {
            json: serialize(chunk),
            usage: chunk.usage,
            usage_only: false,
        }
    }

    pub fn usage_only(chunk: &ChatCompletionChunk) -> Self {
        Self {
            json: serialize(chunk),
            usage: chunk.usage,
            usage_only: true,
        }
    }
}

fn serialize(chunk: &ChatCompletionChunk) -> Bytes {
    serde_json::to_vec(chunk)
        .expect("chunks always serialize")
        .into()
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamItem, UpstreamError>> + Send>>;

/// A `/v1/embeddings` answer in OpenAI's shape.
#[derive(Debug, Clone)]
pub struct EmbeddingsOutcome {
    pub body: Bytes,
    pub prompt_tokens: u32,
}

/// What every provider does; each implements it in its own module. A provider without an
/// embeddings API keeps the default, which refuses with a clear 400.
pub trait ProviderApi {
    /// A non-streaming completion for `model` (the provider's own name for it).
    fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> impl Future<Output = Result<ChatOutcome, UpstreamError>> + Send;

    /// A streamed completion. Errors before the first event come back as `Err`, not in the
    /// stream.
    fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> impl Future<Output = Result<ChunkStream, UpstreamError>> + Send;

    fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        _request: &EmbeddingsRequest,
        _model: &str,
    ) -> impl Future<Output = Result<EmbeddingsOutcome, UpstreamError>> + Send {
        let refused = no_embeddings(call.endpoint.kind);
        async move { Err(refused) }
    }
}

pub(crate) fn no_embeddings(kind: ProviderKind) -> UpstreamError {
    UpstreamError::Request(RequestError::Unsupported(format!(
        "{} has no embeddings API.",
        kind.display_name()
    )))
}

/// Dispatches to the provider named by an endpoint, by the wire API of its table row.
pub enum Provider {
    OpenAiCompatible(openai::OpenAiCompatible),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
}

impl Provider {
    pub fn for_kind(kind: ProviderKind) -> Self {
        match kind.spec().wire_api {
            WireApi::OpenAi => Provider::OpenAiCompatible(openai::OpenAiCompatible::new(kind)),
            WireApi::AnthropicMessages => Provider::Anthropic(anthropic::Anthropic),
            WireApi::GeminiGenerateContent => Provider::Gemini(gemini::Gemini),
        }
    }

    pub async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        call.endpoint.refused()?;
        match self {
            Provider::OpenAiCompatible(provider) => provider.chat(call, request, model).await,
            Provider::Anthropic(provider) => provider.chat(call, request, model).await,
            Provider::Gemini(provider) => provider.chat(call, request, model).await,
        }
    }

    pub async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        call.endpoint.refused()?;
        let stream = match self {
            Provider::OpenAiCompatible(provider) => {
                provider.chat_stream(call, request, model).await
            }
            Provider::Anthropic(provider) => provider.chat_stream(call, request, model).await,
            Provider::Gemini(provider) => provider.chat_stream(call, request, model).await,
        }?;
        Ok(with_idle_timeout(
            call.endpoint.kind.id(),
            call.timeout,
            stream,
        ))
    }

    pub async fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<EmbeddingsOutcome, UpstreamError> {
        call.endpoint.refused()?;
        match self {
            Provider::OpenAiCompatible(provider) => provider.embeddings(call, request, model).await,
            Provider::Anthropic(provider) => provider.embeddings(call, request, model).await,
            Provider::Gemini(provider) => provider.embeddings(call, request, model).await,
        }
    }
}

/// Sends a prepared upstream request. A non-2xx answer is read whole (error bodies are small) and
/// turned into the provider's error by `read_error`, with its `Retry-After`.
pub(crate) async fn send(
    provider: &'static str,
    timeout: Duration,
    request: reqwest::RequestBuilder,
    read_error: impl FnOnce(
        axum::http::StatusCode,
        Option<axum::http::HeaderValue>,
        &[u8],
    ) -> UpstreamError,
) -> Result<reqwest::Response, UpstreamError> {
    // The timeout bounds the wait for the answer to start, not the answer: a stream may run for
    // as long as its chunks keep coming (see `with_idle_timeout`).
    let response =
        match crate::metrics::upstream(tokio::time::timeout(timeout, request.send())).await {
            Ok(sent) => sent.map_err(|e| transport_error(provider, timeout, e))?,
            Err(_) => return Err(timed_out(provider, timeout)),
        };
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let retry_after = response
        .headers()
        .get(axum::http::header::RETRY_AFTER)
        .filter(|value| is_whole_seconds(value))
        .cloned();
    // Only the start of an error body is read: it carries the message, and a provider gone wrong
    // may send one without end.
    let read = tokio::time::timeout(timeout, read_capped(response, MAX_ERROR_BODY_BYTES));
    let body = match crate::metrics::upstream(read).await {
        Ok(Ok((body, _))) => body,
        // A body that breaks off or stalls still leaves the status to map.
        Ok(Err(_)) | Err(_) => Bytes::new(),
    };
    Err(read_error(status, retry_after, &body))
}

/// A `Retry-After` the gateway passes on: whole seconds, at most a day. What a provider gone
/// wrong may send instead (`NaN`, `-1`, `inf`, `1e300`) is dropped, not handed to clients.
fn is_whole_seconds(value: &axum::http::HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<u32>().ok())
        .is_some_and(|seconds| seconds <= 86_400)
}

/// The most of a successful, non-streamed answer the gateway reads (embeddings of many inputs are
/// the largest answers there are, a few megabytes); more is the provider gone wrong.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The start of an error body the gateway reads.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// The longest line of a server-sent event stream (one chunk's JSON, an inline image at most),
/// however long the stream.
pub const MAX_EVENT_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Reads at most `limit` bytes of a body: the bytes, and whether the body went on past them.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    // A declared length within the limit is all there will be (hyper holds the body to it): read
    // it the usual way, without copying it chunk by chunk.
    if response
        .content_length()
        .is_some_and(|length| length <= limit as u64)
    {
        return Ok((response.bytes().await?, false));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

/// The whole body of a successful (small, non-streaming) upstream answer.
pub(crate) async fn read_body(
    provider: &'static str,
    timeout: Duration,
    response: reqwest::Response,
) -> Result<Bytes, UpstreamError> {
    let read = tokio::time::timeout(timeout, read_capped(response, MAX_ANSWER_BYTES));
    match crate::metrics::upstream(read).await {
        Ok(Ok((body, false))) => Ok(body),
        Ok(Ok((_, true))) => Err(UpstreamError::InvalidResponse {
            provider,
            detail: format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER_BYTES / (1024 * 1024)
            ),
        }),
        Ok(Err(e)) => Err(transport_error(provider, timeout, e)),
        Err(_) => Err(timed_out(provider, timeout)),
    }
}

fn timed_out(provider: &'static str, timeout: Duration) -> UpstreamError {
    UpstreamError::Timeout {
        provider,
        seconds: timeout.as_secs().max(1),
    }
}

/// Ends a stream with a timeout error when the provider sends nothing for `idle`: a long answer
/// streams for as long as it needs, a stalled one is not waited on for ever.
pub(crate) fn with_idle_timeout(
    provider: &'static str,
    idle: Duration,
    stream: ChunkStream,
) -> ChunkStream {
    use futures::StreamExt as _;
    Box::pin(futures::stream::unfold(
        Some(stream),
        move |stream| async move {
            let mut stream = stream?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out(provider, idle)), None)),
            }
        },
    ))
}

/// Turns a provider's server-sent events into OpenAI chunks with `convert`, one event at a time;
/// a broken connection ends the stream with an error.
pub(crate) fn convert_events(
    provider: &'static str,
    response: reqwest::Response,
    mut convert: impl FnMut(&eventsource_stream::Event) -> Result<Vec<StreamItem>, UpstreamError>
    + Send
    + 'static,
) -> impl Stream<Item = Result<StreamItem, UpstreamError>> + Send + 'static {
    use eventsource_stream::Eventsource as _;
    use futures::StreamExt as _;
    event_bytes(response).eventsource().flat_map(move |event| {
        let items: Vec<Result<StreamItem, UpstreamError>> = match event {
            Ok(event) => match convert(&event) {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            },
            Err(err) => vec![Err(stream_error(provider, err))],
        };
        futures::stream::iter(items)
    })
}

/// Maps a reqwest failure (before any response) to an upstream error.
pub(crate) fn transport_error(
    provider: &'static str,
    timeout: Duration,
    err: reqwest::Error,
) -> UpstreamError {
    if err.is_timeout() {
        timed_out(provider, timeout)
    } else if let Some(refusal) = egress_refusal(&err) {
        UpstreamError::Egress {
            provider,
            refusal: refusal.clone(),
        }
    } else {
        // reqwest's message can include the URL but never headers, so the key stays out.
        UpstreamError::Connect {
            provider,
            detail: without_url(&err),
        }
    }
}

/// The SSRF guard's refusal, when that is why the connection failed (it comes back from the
/// resolver wrapped in the connector's errors).
fn egress_refusal(err: &reqwest::Error) -> Option<&crate::egress::EgressRefusal> {
    use std::error::Error as _;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<crate::egress::EgressRefusal>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

fn without_url(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut detail = String::from(if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    });
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod egress_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_seconds_of_retry_after_are_passed_on() {
        let value = |text: &str| axum::http::HeaderValue::from_str(text).unwrap();
        for sane in ["0", "20", "86400"] {
            assert!(is_whole_seconds(&value(sane)), "{sane}");
        }
        for insane in [
            "NaN",
            "-1",
            "inf",
            "1e300",
            "1.5",
            "86401",
            "99999999999",
            " 5",
        ] {
            assert!(!is_whole_seconds(&value(insane)), "{insane}");
        }
    }
}
