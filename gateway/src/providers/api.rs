//! What every provider does ([`ProviderApi`]) and what a call to one carries and returns.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

use crate::error::{RequestError, UpstreamError};
use crate::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest, Usage,
};
use gateway_types::ProviderKind;

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
    pub base_url: BaseUrl,
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

/// A provider's base URL, parsed once when its account is loaded: each call's URL is the parsed
/// base with its path set, not a string parsed again per request (parsing the host, through
/// `idna`, was 2.4 % of a plain request's CPU).
#[derive(Debug, Clone)]
pub struct BaseUrl {
    text: String,
    parsed: Option<reqwest::Url>,
}

/// An upstream call's URL; the text it would have had when the base URL does not parse (the
/// request then fails when sent, with the client's own message).
pub(crate) type CallUrl = Result<reqwest::Url, String>;

impl BaseUrl {
    pub fn new(text: String) -> Self {
        let parsed = reqwest::Url::parse(&text).ok();
        Self { text, parsed }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The base URL, parsed (`None`: it is not a URL).
    pub fn parsed(&self) -> Option<&reqwest::Url> {
        self.parsed.as_ref()
    }

    /// The URL of `path` (from its `/`, with an optional `?query`) under the base: the base's
    /// path without its trailing `/`, then `path`.
    pub(crate) fn join(&self, path: &str) -> CallUrl {
        let Some(base) = &self.parsed else {
            return Err(format!("{}{path}", self.text.trim_end_matches('/')));
        };
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(path, query)| (path, Some(query)));
        let mut url = base.clone();
        url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
        url.set_query(query);
        Ok(url)
    }
}

impl From<&str> for BaseUrl {
    fn from(text: &str) -> Self {
        Self::new(text.to_owned())
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
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    /// A GET carrying the hop count (the models lists).
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    /// `path` under the endpoint's base URL.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = match self.endpoint.base_url.join(path) {
            Ok(url) => self.http.request(method, url),
            Err(text) => self.http.request(method, text),
        };
        request.header(HOPS_HEADER, self.hops)
    }
}

/// How many models a provider's models list holds: the array at `pointer` (`/data` in OpenAI's
/// and Anthropic's shape, `/models` in Gemini's).
pub(crate) fn models_listed(
    provider: &'static str,
    body: &[u8],
    pointer: &str,
) -> Result<usize, UpstreamError> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|list| {
            list.pointer(pointer)
                .and_then(|models| models.as_array().map(Vec::len))
        })
        .ok_or_else(|| UpstreamError::InvalidResponse {
            provider,
            detail: format!("not a models list (no array at {pointer})"),
        })
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

    /// Lists the models the key may use (the provider's first page of them): how the portal
    /// checks a key and base URL before any request depends on them. Returns how many it listed.
    fn list_models(
        &self,
        call: &UpstreamCall<'_>,
    ) -> impl Future<Output = Result<usize, UpstreamError>> + Send;

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
