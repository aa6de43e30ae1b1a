//! LLM providers behind one trait, [`ProviderApi`]; [`Provider`] dispatches to them by the wire
//! API of the provider's row in [`PROVIDERS`] (in the `gateway-types` crate, which the portal shares), where its facts live as data.
//!
//! OpenAI, Groq and Ollama speak OpenAI's API (`openai.rs`):
//! another such provider is one enum variant and one table row. Anthropic and Gemini are
//! converted (`anthropic/`, `gemini/`: request, response, stream and error conversions as pure
//! functions with their fixture tests, transport in [`transport`]).

pub mod anthropic;
mod api;
mod events;
pub mod gemini;
pub mod openai;
mod sse;
mod transport;

pub use api::{
    BaseUrl, ChatOutcome, ChunkStream, EmbeddingsOutcome, HOPS_HEADER, ProviderApi,
    ProviderEndpoint, ProviderSecret, StreamItem, UpstreamCall,
};
pub use events::MAX_EVENT_LINE_BYTES;
pub(crate) use transport::{IdleTimer, read_body, transport_error, with_idle_timeout};
pub use transport::{MAX_ANSWER_BYTES, MAX_ERROR_BODY_BYTES};

pub use gateway_types::{PROVIDERS, ProviderKind, ProviderSpec, WireApi};

use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, EmbeddingsRequest};

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

    /// How many models the endpoint's key may use, as its models list says (see
    /// [`ProviderApi::list_models`]).
    pub async fn list_models(&self, call: &UpstreamCall<'_>) -> Result<usize, UpstreamError> {
        call.endpoint.refused()?;
        match self {
            Provider::OpenAiCompatible(provider) => provider.list_models(call).await,
            Provider::Anthropic(provider) => provider.list_models(call).await,
            Provider::Gemini(provider) => provider.list_models(call).await,
        }
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

#[cfg(test)]
mod egress_tests;
