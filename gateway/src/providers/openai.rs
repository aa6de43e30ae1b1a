//! OpenAI's API, and the OpenAI-compatible APIs of Groq and Ollama: the request goes out as it
//! came in (only `model` is resolved), the response comes back byte for byte, and a stream's
//! events are forwarded as they arrive. Groq reports a stream's usage in `x_groq.usage` of the
//! last chunk; Ollama's base URL names the server and needs no key (both rules in `kind.rs`).

use axum::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;

use super::api::{
    ChatOutcome, ChunkStream, EmbeddingsOutcome, ProviderApi, StreamItem, UpstreamCall,
    models_listed,
};
use super::events::{StreamBodyError, body_error};
use super::sse::data_events;
use super::transport::{read_body, send};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionRequest, ChatCompletionSummary, EmbeddingsRequest, Usage};
use gateway_types::ProviderKind;

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

    /// `path` of the API under the endpoint's base URL (`/v1` first where the base URL names
    /// only the server).
    fn path(&self, call: &UpstreamCall<'_>, path: &str) -> String {
        if self.kind.spec().api_under_v1 && !names_v1(call.endpoint.base_url.as_str()) {
            format!("/v1{path}")
        } else {
            path.to_owned()
        }
    }

    /// Sends a Responses API request as the client wrote it (pass-through for `/v1/responses`).
    pub async fn send_responses(
        &self,
        call: &UpstreamCall<'_>,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.post(call, "/responses", body).await
    }

    async fn post(
        &self,
        call: &UpstreamCall<'_>,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut request = call.post(&self.path(call, path)).json(body);
        if !call.endpoint.api_key.is_empty() {
            request = request.bearer_auth(call.endpoint.api_key.expose());
        }
        let provider = self.provider();
        send(
            provider,
            call.timeout,
            request,
            |status, retry_after, body| error_from_body(provider, status, retry_after, body),
        )
        .await
    }
}

impl ProviderApi for OpenAiCompatible {
    async fn list_models(&self, call: &UpstreamCall<'_>) -> Result<usize, UpstreamError> {
        let mut request = call.get(&self.path(call, "/models"));
        if !call.endpoint.api_key.is_empty() {
            request = request.bearer_auth(call.endpoint.api_key.expose());
        }
        let provider = self.provider();
        let response = send(
            provider,
            call.timeout,
            request,
            |status, retry_after, body| error_from_body(provider, status, retry_after, body),
        )
        .await?;
        let body = read_body(provider, call.timeout, response).await?;
        models_listed(provider, &body, "/data")
    }

    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let body = OutgoingChat {
            request,
            model,
            stream: false,
        };
        let response = self.post(call, "/chat/completions", &body).await?;
        let body = read_body(self.provider(), call.timeout, response).await?;
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
        let body = OutgoingChat {
            request,
            model,
            stream: true,
        };
        let response = self.post(call, "/chat/completions", &body).await?;
        Ok(Box::pin(ChatChunks {
            provider: self.provider(),
            events: Some(data_events(response)),
        }))
    }

    async fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<EmbeddingsOutcome, UpstreamError> {
        if !self.kind.spec().embeddings {
            return Err(super::api::no_embeddings(self.kind));
        }
        let mut body = serde_json::to_value(request).unwrap_or(Value::Null);
        body["model"] = Value::String(model.to_owned());
        let response = self.post(call, "/embeddings", &body).await?;
        let body = read_body(self.provider(), call.timeout, response).await?;
        let parsed: Value =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::InvalidResponse {
                provider: self.provider(),
                detail: format!("not an embeddings list: {e}"),
            })?;
        let prompt_tokens = parsed
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .map_or(0, |count| u32::try_from(count).unwrap_or(u32::MAX));
        Ok(EmbeddingsOutcome {
            body,
            prompt_tokens,
        })
    }
}

/// The body sent upstream: the client's request as it came, with `model` resolved and `stream`
/// set by the route, serialized in one pass (no intermediate `Value`). A stream always asks for
/// usage, to account for it; the proxy drops the usage chunk for clients that did not ask.
struct OutgoingChat<'a> {
    request: &'a ChatCompletionRequest,
    model: &'a str,
    stream: bool,
}

impl serde::Serialize for OutgoingChat<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("messages", &self.request.messages)?;
        if self.stream {
            let mut options = match self.request.extra.get("stream_options") {
                Some(Value::Object(options)) => options.clone(),
                _ => serde_json::Map::new(),
            };
            options.insert("include_usage".into(), Value::Bool(true));
            map.serialize_entry("stream", &true)?;
            map.serialize_entry("stream_options", &options)?;
        }
        for (key, value) in &self.request.extra {
            if key != "stream_options" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// Whether a base URL names the API (`…/v1`) rather than only the server (Ollama's
/// `http://127.0.0.1:11434`, whose OpenAI-compatible API lives under `/v1`).
fn names_v1(base_url: &str) -> bool {
    base_url.trim_end_matches('/').ends_with("/v1")
}

/// A chat stream's chunks as the provider's events bring them, up to `[DONE]`. Each chunk's
/// JSON stays a slice of what was read: nothing is copied or built per chunk but the probe for
/// usage and errors.
struct ChatChunks<S> {
    provider: &'static str,
    /// `None` once `[DONE]` has come or the stream has failed.
    events: Option<S>,
}

impl<S> futures::Stream for ChatChunks<S>
where
    S: futures::Stream<Item = Result<Bytes, StreamBodyError>> + Unpin,
{
    type Item = Result<StreamItem, UpstreamError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let provider = self.provider;
        loop {
            let Some(events) = self.events.as_mut() else {
                return std::task::Poll::Ready(None);
            };
            let item = match std::task::ready!(events.poll_next_unpin(cx)) {
                None => None,
                Some(Ok(data)) if data.trim_ascii().is_empty() => continue,
                Some(Ok(data)) if data.trim_ascii() == b"[DONE]" => None,
                Some(Ok(data)) => Some(read_chunk(provider, data)),
                Some(Err(err)) => Some(Err(body_error(provider, err))),
            };
            if !matches!(item, Some(Ok(_))) {
                self.events = None;
            }
            return std::task::Poll::Ready(item);
        }
    }
}

/// One upstream `data:` payload: forwarded as is, read only for usage and errors.
fn read_chunk(provider: &'static str, data: Bytes) -> Result<StreamItem, UpstreamError> {
    // A typed probe skips what it does not name without building it: a chunk's choices and
    // deltas are only borrowed as raw text, never allocated.
    let probe: ChunkProbe =
        serde_json::from_slice(&data).map_err(|e| UpstreamError::InvalidResponse {
            provider,
            detail: format!("bad stream chunk: {e}"),
        })?;
    if let Some(error) = probe.error {
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
    let usage = [probe.usage, probe.x_groq.and_then(|groq| groq.usage)]
        .into_iter()
        .flatten()
        .find_map(|usage| serde_json::from_value::<Usage>(usage).ok());
    let usage_only = probe.choices.is_some_and(|choices| {
        choices
            .get()
            .strip_prefix('[')
            .and_then(|list| list.strip_suffix(']'))
            .is_some_and(|inside| inside.trim().is_empty())
    });
    Ok(StreamItem {
        json: data,
        usage,
        usage_only,
    })
}

/// What `read_chunk` needs of a chunk. `null` reads as absent; a usage of an unexpected shape
/// is ignored rather than failing the stream.
#[derive(Deserialize)]
struct ChunkProbe<'a> {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    x_groq: Option<GroqExtension>,
    #[serde(default, borrow)]
    choices: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct GroqExtension {
    #[serde(default)]
    usage: Option<Value>,
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
                .map(|data| read_chunk("test", data.into()).unwrap())
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
    fn a_chunk_is_read_for_usage_and_emptiness_only() {
        let item = read_chunk(
            "openai",
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#
                .into(),
        )
        .unwrap();
        assert!(item.usage_only);
        assert_eq!(item.usage.unwrap().total_tokens, 7);
        assert!(
            read_chunk("openai", r#"{"choices":[ ],"usage":null}"#.into())
                .unwrap()
                .usage_only
        );
        // null usage, choices of an unexpected shape, a usage that is not one: all tolerated.
        for data in [
            r#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#,
            r#"{"choices":{"0":1},"usage":"lots","error":null}"#,
            r#"{"choices":null,"x_groq":{"usage":null}}"#,
            r#"{}"#,
        ] {
            let item = read_chunk("openai", data.into()).unwrap();
            assert!(!item.usage_only && item.usage.is_none(), "{data}");
            assert_eq!(&item.json[..], data.as_bytes(), "forwarded as is");
        }
        assert!(read_chunk("openai", "{not json".into()).is_err());
    }

    #[test]
    fn ollama_api_lives_under_v1() {
        let ollama = OpenAiCompatible::new(ProviderKind::Ollama);
        let http = reqwest::Client::new();
        for (base, url) in [
            (
                "http://127.0.0.1:11434/",
                "http://127.0.0.1:11434/v1/models",
            ),
            ("http://h:1/v1", "http://h:1/v1/models"),
            ("http://h:1/v1/", "http://h:1/v1/models"),
        ] {
            let endpoint = crate::providers::ProviderEndpoint {
                kind: ProviderKind::Ollama,
                base_url: base.into(),
                api_key: crate::providers::ProviderSecret::new(String::new()),
                egress_refusal: None,
                opened: false,
            };
            let call = UpstreamCall {
                http: &http,
                endpoint: &endpoint,
                timeout: std::time::Duration::from_secs(1),
                hops: 1,
            };
            let request = call.get(&ollama.path(&call, "/models")).build().unwrap();
            assert_eq!(request.url().as_str(), url, "{base}");
        }
    }
}
