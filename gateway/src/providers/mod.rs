//! LLM providers behind one abstraction. Each provider is one file implementing
//! [`ChatProvider`]; [`Provider`] dispatches to them with a `match`, so adding a provider is one
//! file and one variant.

pub mod openai;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, Usage};

/// Providers a user can bring a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
}

impl ProviderKind {
    pub const ALL: &'static [ProviderKind] = &[ProviderKind::OpenAi];

    /// The identifier used in the database, the CLI and `provider/model` names.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OpenAI",
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.id() == id)
    }

    /// The base URL as the provider's own SDK names it.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
        }
    }

    /// What `model: "auto"` means until auto-routing weighs requests: the provider's cheapest
    /// general-purpose chat model.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "gpt-4o-mini",
        }
    }

    /// Whether a bare model name (no `provider/` prefix) is one of this provider's.
    pub fn owns_bare_model(self, model: &str) -> bool {
        match self {
            ProviderKind::OpenAi => {
                ["gpt-", "o1", "o3", "o4", "chatgpt-", "ft:", "text-embedding-"].iter().any(|prefix| model.starts_with(prefix))
            }
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

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
}

/// What one upstream call needs besides the request.
pub struct UpstreamCall<'a> {
    pub http: &'a reqwest::Client,
    pub endpoint: &'a ProviderEndpoint,
    pub timeout: Duration,
}

/// A successful non-streaming completion: the OpenAI-shaped body to send back, and what it cost.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    pub body: Bytes,
    pub served_model: String,
    pub usage: Usage,
}

pub trait ChatProvider {
    /// Sends one chat completion request, already aimed at `model`, and returns an OpenAI
    /// `chat.completion` body.
    fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
    ) -> impl Future<Output = Result<ChatOutcome, UpstreamError>> + Send;
}

/// Dispatches to the provider named by an endpoint.
pub enum Provider {
    OpenAi(openai::OpenAi),
}

impl Provider {
    pub fn for_kind(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenAi => Provider::OpenAi(openai::OpenAi),
        }
    }

    pub async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
    ) -> Result<ChatOutcome, UpstreamError> {
        match self {
            Provider::OpenAi(provider) => provider.chat(call, request).await,
        }
    }
}

/// Maps a reqwest failure (before any response) to an upstream error.
pub(crate) fn transport_error(provider: &'static str, timeout: Duration, err: reqwest::Error) -> UpstreamError {
    if err.is_timeout() {
        UpstreamError::Timeout { provider, seconds: timeout.as_secs().max(1) }
    } else {
        // reqwest's message can include the URL but never headers, so the key stays out.
        UpstreamError::Connect { provider, detail: without_url(&err) }
    }
}

fn without_url(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut detail = String::from(if err.is_connect() { "connection failed" } else { "request failed" });
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}
