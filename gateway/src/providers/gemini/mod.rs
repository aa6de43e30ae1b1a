//! Google Gemini's `generateContent` and `streamGenerateContent?alt=sse`, converted by pure
//! functions tested against fixtures that follow Google's API reference.
//!
//! Refused with a 400: `logprobs`, images by http(s) URL (Gemini takes inline base64 data URLs
//! through the gateway), audio and file parts. Tool call ids do not exist in Gemini: the gateway
//! makes them up (`call_<n>`) and maps tool results back to the function name through the
//! assistant message that made the call.

mod error;
#[cfg(test)]
mod fuzz;
mod request;
mod response;
mod stream;

use futures::StreamExt as _;
use serde_json::Value;

use self::error::{PROVIDER, error_from_body};
use self::request::{to_embeddings_request, to_request};
use self::response::{from_embeddings_response, from_response};
use self::stream::StreamConverter;
use super::api::{
    ChatOutcome, ChunkStream, EmbeddingsOutcome, ProviderApi, UpstreamCall, models_listed,
};
use super::transport::{convert_events, read_body, send};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, EmbeddingsRequest};

pub struct Gemini;

impl Gemini {
    async fn post(
        &self,
        call: &UpstreamCall<'_>,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let request = call
            .post(&format!("/v1beta/models/{path}"))
            .header("x-goog-api-key", call.endpoint.api_key.expose())
            .json(body);
        send(PROVIDER, call.timeout, request, error_from_body).await
    }
}

impl ProviderApi for Gemini {
    async fn list_models(&self, call: &UpstreamCall<'_>) -> Result<usize, UpstreamError> {
        let request = call
            .get("/v1beta/models")
            .header("x-goog-api-key", call.endpoint.api_key.expose());
        let response = send(PROVIDER, call.timeout, request, error_from_body).await?;
        let body = read_body(PROVIDER, call.timeout, response).await?;
        models_listed(PROVIDER, &body, "/models")
    }

    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let body = to_request(request)?;
        let response = self
            .post(call, &format!("{model}:generateContent"), &body)
            .await?;
        let body = read_body(PROVIDER, call.timeout, response).await?;
        let completion =
            from_response(&body, model, crate::clock::now_ms() / 1000).map_err(|detail| {
                UpstreamError::InvalidResponse {
                    provider: PROVIDER,
                    detail,
                }
            })?;
        ChatOutcome::from_completion(&completion)
    }

    async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        let body = to_request(request)?;
        let response = self
            .post(
                call,
                &format!("{model}:streamGenerateContent?alt=sse"),
                &body,
            )
            .await?;
        let converter = std::sync::Arc::new(parking_lot::Mutex::new(StreamConverter::new(
            model,
            crate::clock::now_ms() / 1000,
        )));
        let on_events = converter.clone();
        let events = convert_events(PROVIDER, response, move |data| {
            if data.trim_ascii().is_empty() {
                return Ok(Vec::new());
            }
            on_events.lock().on_data(data)
        });
        // Gemini has no end-of-stream event: the usage chunk follows the last event.
        let tail = futures::stream::once(async move { converter.lock().finish() })
            .filter_map(|item| async move { item.map(Ok) });
        Ok(Box::pin(events.chain(tail)))
    }

    async fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<EmbeddingsOutcome, UpstreamError> {
        let body = to_embeddings_request(request, model)?;
        let response = self
            .post(call, &format!("{model}:batchEmbedContents"), &body)
            .await?;
        let body = read_body(PROVIDER, call.timeout, response).await?;
        let converted = from_embeddings_response(&body, model).map_err(|detail| {
            UpstreamError::InvalidResponse {
                provider: PROVIDER,
                detail,
            }
        })?;
        Ok(EmbeddingsOutcome {
            body: converted.to_string().into(),
            prompt_tokens: 0,
        })
    }
}

#[cfg(test)]
mod test_support {
    pub(super) fn fixture(name: &str) -> String {
        crate::test_support::fixture("gemini", name)
    }
}
