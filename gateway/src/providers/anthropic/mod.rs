//! Anthropic's Messages API. Requests and responses are converted by pure functions, tested
//! against fixtures that follow Anthropic's API reference.
//!
//! What cannot be honoured is refused with a 400 naming the parameter: `n` > 1, `logprobs`,
//! non-zero `presence_penalty` / `frequency_penalty`, `temperature` above 1, audio and file parts,
//! `response_format` together with `tools`. `seed` is dropped (Anthropic has none). JSON mode is
//! served by a forced tool whose input is returned as the message content.

mod error;
#[cfg(test)]
mod fuzz;
mod request;
mod response;
mod stream;

use serde_json::Value;

use self::error::{PROVIDER, error_from_body};
pub use self::request::DEFAULT_MAX_TOKENS;
use self::request::to_request;
use self::response::from_response;
use self::stream::StreamConverter;
use super::api::{ChatOutcome, ChunkStream, ProviderApi, UpstreamCall, models_listed};
use super::transport::{convert_events, read_body, send};
use crate::error::UpstreamError;
use crate::openai::ChatCompletionRequest;

pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic;

impl Anthropic {
    async fn send(
        &self,
        call: &UpstreamCall<'_>,
        body: &Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let request = call
            .post("/v1/messages")
            .header("x-api-key", call.endpoint.api_key.expose())
            .header("anthropic-version", API_VERSION)
            .json(body);
        send(PROVIDER, call.timeout, request, error_from_body).await
    }
}

/// Sends a Messages request as the client wrote it (pass-through for `/v1/messages`, or
/// `/v1/messages/count_tokens` with `path`), with the client's `anthropic-version` and
/// `anthropic-beta` when it sent them.
pub async fn send_native(
    call: &UpstreamCall<'_>,
    path: &str,
    body: &Value,
    version: Option<&str>,
    beta: Option<&str>,
) -> Result<reqwest::Response, UpstreamError> {
    let mut request = call
        .post(&format!("/v1/{path}"))
        .header("x-api-key", call.endpoint.api_key.expose())
        .header("anthropic-version", version.unwrap_or(API_VERSION))
        .json(body);
    if let Some(beta) = beta {
        request = request.header("anthropic-beta", beta);
    }
    send(PROVIDER, call.timeout, request, error_from_body).await
}

impl ProviderApi for Anthropic {
    async fn list_models(&self, call: &UpstreamCall<'_>) -> Result<usize, UpstreamError> {
        let request = call
            .get("/v1/models")
            .header("x-api-key", call.endpoint.api_key.expose())
            .header("anthropic-version", API_VERSION);
        let response = send(PROVIDER, call.timeout, request, error_from_body).await?;
        let body = read_body(PROVIDER, call.timeout, response).await?;
        models_listed(PROVIDER, &body, "/data")
    }

    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let converted = to_request(request, model, false).map_err(UpstreamError::Request)?;
        let response = self.send(call, &converted.body).await?;
        let body = read_body(PROVIDER, call.timeout, response).await?;
        let completion = from_response(
            &body,
            converted.json_tool.as_deref(),
            crate::clock::now_ms() / 1000,
        )
        .map_err(|detail| UpstreamError::InvalidResponse {
            provider: PROVIDER,
            detail,
        })?;
        ChatOutcome::from_completion(&completion)
    }

    async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        let converted = to_request(request, model, true).map_err(UpstreamError::Request)?;
        let response = self.send(call, &converted.body).await?;
        let mut converter =
            StreamConverter::new(converted.json_tool, crate::clock::now_ms() / 1000);
        let stream = convert_events(PROVIDER, response, move |data| converter.on_event(data));
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod test_support {
    /// A fixture of the fake Anthropic server (`testkit/fixtures/anthropic/<name>`).
    pub(super) fn fixture(name: &str) -> String {
        crate::test_support::fixture("anthropic", name)
    }
}
