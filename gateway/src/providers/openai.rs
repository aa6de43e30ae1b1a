//! OpenAI's API, and the OpenAI-compatible APIs of Groq and Ollama: the request goes out as it
//! came in (only `model` is resolved), the response comes back byte for byte, and a stream's
//! events are forwarded as they arrive. Groq reports a stream's usage in `x_groq.usage` of the
//! last chunk; Ollama's base URL names the server and needs no key (both rules in `kind.rs`).

use axum::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;

use super::{
    ChatOutcome, ChunkStream, EmbeddingsOutcome, ProviderApi, ProviderKind, StreamItem,
    UpstreamCall, stream_error,
};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, ChatCompletionSummary, EmbeddingsRequest, Usage};

/// One OpenAI-compatible provider; its quirks are read from its row in the provider table.
pub struct OpenAiCompatible {
    pub kind: ProviderKind,
}

impl OpenAiCompatible {
    pub fn new(kind: ProviderKind) -> Self {
        Self { kind }
    }

    /// Provider id, for error messages.
    fn provider(&self) -> &'static str {
        self.kind.id()
    }

    fn url(&self, call: &UpstreamCall<'_>, path: &str) -> String {
        let base = if self.kind.spec().api_under_v1 {
            under_v1(&call.endpoint.base_url)
        } else {
            call.endpoint.base_url.trim_end_matches('/').to_owned()
        };
        format!("{base}{path}")
    }

    async fn post(
        &self,
        call: &UpstreamCall<'_>,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut request = call.http.post(self.url(call, path)).json(body);
        if !call.endpoint.api_key.is_empty() {
            request = request.bearer_auth(call.endpoint.api_key.expose());
        }
        let provider = self.provider();
        super::send(
            provider,
            call.timeout,
            request,
            |status, retry_after, body| error_from_body(provider, status, retry_after, body),
        )
        .await
    }

    fn body_for(request: &ChatCompletionRequest, model: &str) -> Value {
        let mut body = serde_json::to_value(request).unwrap_or(Value::Null);
        body["model"] = Value::String(model.to_owned());
        body
    }
}

impl ProviderApi for OpenAiCompatible {
    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let mut body = Self::body_for(request, model);
        if let Some(object) = body.as_object_mut() {
            object.remove("stream");
            object.remove("stream_options");
        }
        let response = self.post(call, "/chat/completions", &body).await?;
        let body = super::read_body(self.provider(), call.timeout, response).await?;
        let summary: ChatCompletionSummary =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::InvalidResponse {
                provider: self.provider(),
                detail: format!("not a chat.completion: {e}"),
            })?;
        Ok(ChatOutcome {
            served_model: summary.model,
            usage: summary.usage.unwrap_or_default(),
            body,
        })
    }

    async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        use eventsource_stream::Eventsource as _;
        let mut body = Self::body_for(request, model);
        body["stream"] = Value::Bool(true);
        // Always ask for usage, to account for it; the proxy drops the usage chunk for clients
        // that did not ask for it.
        body["stream_options"]["include_usage"] = Value::Bool(true);
        let response = self.post(call, "/chat/completions", &body).await?;
        let provider = self.provider();
        let stream = response
            .bytes_stream()
            .eventsource()
            .take_while(|event| {
                futures::future::ready(!matches!(event, Ok(event) if event.data.trim() == "[DONE]"))
            })
            .filter_map(move |event| {
                futures::future::ready(match event {
                    Ok(event) if event.data.trim().is_empty() => None,
                    Ok(event) => Some(read_chunk(provider, event.data)),
                    Err(err) => Some(Err(stream_error(provider, err))),
                })
            });
        Ok(Box::pin(stream))
    }

    async fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<EmbeddingsOutcome, UpstreamError> {
        if !self.kind.spec().embeddings {
            return Err(super::no_embeddings(self.kind));
        }
        let mut body = serde_json::to_value(request).unwrap_or(Value::Null);
        body["model"] = Value::String(model.to_owned());
        let response = self.post(call, "/embeddings", &body).await?;
        let body = super::read_body(self.provider(), call.timeout, response).await?;
        let parsed: Value =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::InvalidResponse {
                provider: self.provider(),
                detail: format!("not an embeddings list: {e}"),
            })?;
        let prompt_tokens = parsed
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        Ok(EmbeddingsOutcome {
            body,
            prompt_tokens,
        })
    }
}

/// One upstream `data:` payload: forwarded as is, read only for usage and errors.
/// A base URL that names the server (Ollama's `http://127.0.0.1:11434`), whose OpenAI-compatible
/// API lives under `/v1`.
fn under_v1(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

fn read_chunk(provider: &'static str, data: String) -> Result<StreamItem, UpstreamError> {
    let value: Value = serde_json::from_str(&data).map_err(|e| UpstreamError::InvalidResponse {
        provider,
        detail: format!("bad stream chunk: {e}"),
    })?;
    if let Some(error) = value.get("error") {
        return Err(UpstreamError::Status {
            provider,
            status: StatusCode::BAD_GATEWAY,
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("stream error")
                .to_owned(),
            kind: error.get("type").and_then(Value::as_str).map(str::to_owned),
            code: error.get("code").and_then(Value::as_str).map(str::to_owned),
            retry_after: None,
        });
    }
    // OpenAI sends usage in a last chunk without choices; Groq also in `x_groq.usage`.
    let usage = [value.get("usage"), value.pointer("/x_groq/usage")]
        .into_iter()
        .flatten()
        .find(|usage| !usage.is_null())
        .and_then(|usage| serde_json::from_value::<Usage>(usage.clone()).ok());
    let usage_only = value
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    Ok(StreamItem {
        json: Bytes::from(data),
        usage,
        usage_only,
    })
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
    code: Option<Value>,
}

/// Reads OpenAI's documented error body; anything else becomes a generic message with the status.
pub(crate) fn error_from_body(
    provider: &'static str,
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    let parsed: Option<OpenAiErrorBody> = serde_json::from_slice(body).ok();
    let (message, kind, code) = match parsed {
        Some(OpenAiErrorBody { error }) => (
            error.message.unwrap_or_else(|| status.to_string()),
            error.kind,
            error.code.and_then(|code| match code {
                Value::String(code) => Some(code),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            }),
        ),
        None => (
            format!("upstream answered {status} without an error body"),
            None,
            None,
        ),
    };
    UpstreamError::Status {
        provider,
        status,
        message,
        kind,
        code,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::fixture;

    #[test]
    fn reads_openai_error_bodies() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-abc***","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let UpstreamError::Status {
            status,
            message,
            kind,
            code,
            ..
        } = error_from_body("openai", StatusCode::UNAUTHORIZED, None, body)
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
        let UpstreamError::Status { message, code, .. } = error_from_body(
            "openai",
            StatusCode::BAD_GATEWAY,
            None,
            b"<html>bad gateway</html>",
        ) else {
            panic!("expected a status error");
        };
        assert!(message.contains("502"));
        assert!(!message.contains("html"), "upstream bodies are not leaked");
        assert_eq!(code, None);
    }

    /// Every data payload of a fixture stream, up to `[DONE]`.
    fn stream_payloads(provider: &str, name: &str) -> Vec<String> {
        fixture(provider, name)
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .take_while(|data| data.trim() != "[DONE]")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn finds_usage_in_openai_groq_and_ollama_streams() {
        for provider in ["openai", "groq", "ollama"] {
            let items: Vec<StreamItem> = stream_payloads(provider, "chat_completion_stream.sse")
                .into_iter()
                .map(|data| read_chunk("test", data).unwrap())
                .collect();
            let usage = items
                .iter()
                .rev()
                .find_map(|item| item.usage)
                .unwrap_or_else(|| panic!("{provider}: no usage"));
            assert!(usage.total_tokens > 0, "{provider}");
            if provider == "openai" {
                assert_eq!((usage.prompt_tokens, usage.completion_tokens), (19, 10));
                assert!(items.last().unwrap().usage_only);
            }
            let text: String = items
                .iter()
                .filter_map(|item| serde_json::from_slice::<Value>(&item.json).ok())
                .filter_map(|chunk| {
                    chunk
                        .pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            assert!(
                text.starts_with("Hello from the fake"),
                "{provider}: {text}"
            );
        }
    }

    #[test]
    fn an_error_event_in_a_stream_is_an_error() {
        let err = read_chunk(
            "openai",
            r#"{"error":{"message":"boom","type":"server_error"}}"#.into(),
        )
        .unwrap_err();
        assert!(matches!(err, UpstreamError::Status { message, .. } if message == "boom"));
    }

    #[test]
    fn ollama_api_lives_under_v1() {
        assert_eq!(
            super::under_v1("http://127.0.0.1:11434/"),
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(super::under_v1("http://h:1/v1"), "http://h:1/v1");
    }
}
