//! OpenAI's chat completions API: the request goes out as it came in (only `model` is resolved),
//! and the response comes back byte for byte.

use axum::http::{StatusCode, header};
use serde::Deserialize;

use super::{ChatOutcome, ChatProvider, UpstreamCall, transport_error};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, ChatCompletionSummary};

const PROVIDER: &str = "openai";

pub struct OpenAi;

impl ChatProvider for OpenAi {
    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
    ) -> Result<ChatOutcome, UpstreamError> {
        let url = format!("{}/chat/completions", call.endpoint.base_url.trim_end_matches('/'));
        let response = call
            .http
            .post(url)
            .bearer_auth(call.endpoint.api_key.expose())
            .timeout(call.timeout)
            .json(request)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, call.timeout, e))?;
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let body = response.bytes().await.map_err(|e| transport_error(PROVIDER, call.timeout, e))?;
        if !status.is_success() {
            return Err(error_from_body(status, retry_after, &body));
        }
        let summary: ChatCompletionSummary = serde_json::from_slice(&body).map_err(|e| {
            UpstreamError::InvalidResponse { provider: PROVIDER, detail: format!("not a chat.completion: {e}") }
        })?;
        Ok(ChatOutcome { served_model: summary.model, usage: summary.usage.unwrap_or_default(), body })
    }
}

#[derive(Deserialize)]
struct OpenAiErrorBody {
    error: OpenAiErrorDetail,
}

#[derive(Deserialize)]
struct OpenAiErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Reads OpenAI's documented error body; anything else becomes a generic message with the status.
pub(crate) fn error_from_body(
    status: StatusCode,
    retry_after: Option<axum::http::HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    let parsed: Option<OpenAiErrorBody> = serde_json::from_slice(body).ok();
    let (message, kind, code) = match parsed {
        Some(OpenAiErrorBody { error }) => (
            error.message.unwrap_or_else(|| status.to_string()),
            error.kind,
            error.code.and_then(|code| match code {
                serde_json::Value::String(code) => Some(code),
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            }),
        ),
        None => (format!("upstream answered {status} without an error body"), None, None),
    };
    UpstreamError::Status { provider: PROVIDER, status, message, kind, code, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_error_bodies() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-abc***","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let UpstreamError::Status { status, message, kind, code, .. } =
            error_from_body(StatusCode::UNAUTHORIZED, None, body)
        else {
            panic!("expected a status error");
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.starts_with("Incorrect API key"));
        assert_eq!(kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(code.as_deref(), Some("invalid_api_key"));
    }

    #[test]
    fn tolerates_non_json_error_bodies() {
        let UpstreamError::Status { message, code, .. } =
            error_from_body(StatusCode::BAD_GATEWAY, None, b"<html>bad gateway</html>")
        else {
            panic!("expected a status error");
        };
        assert!(message.contains("502"));
        assert!(!message.contains("html"), "upstream bodies are not leaked");
        assert_eq!(code, None);
    }
}
