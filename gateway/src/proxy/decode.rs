//! Stage 2: the request body. Each route's input is an extractor that checks the content type,
//! reads the JSON and names the field at fault when it is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use crate::error::{ApiError, RequestError};
use crate::openai::{ChatCompletionRequest, EmbeddingsRequest};
use crate::state::GatewayState;

/// Request bodies may carry base64 images; OpenAI itself accepts up to about 20 MB.
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A chat completion request, with the OpenRouter-style `models` fallback list taken out of the
/// body that is forwarded.
pub struct ChatInput {
    pub request: ChatCompletionRequest,
    pub fallbacks: Vec<String>,
}

impl FromRequest<GatewayState> for ChatInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let body = json_body(request, state).await?;
        let mut request = ChatCompletionRequest::from_json_bytes(&body)?;
        let fallbacks = take_fallbacks(&mut request)?;
        Ok(ChatInput { request, fallbacks })
    }
}

pub struct EmbeddingsInput(pub EmbeddingsRequest);

impl FromRequest<GatewayState> for EmbeddingsInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let body = json_body(request, state).await?;
        Ok(EmbeddingsInput(embeddings_request(&body)?))
    }
}

fn embeddings_request(body: &[u8]) -> Result<EmbeddingsRequest, RequestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
    for field in ["model", "input"] {
        if value.get(field).is_none() {
            return Err(RequestError::MissingField(field.into()));
        }
    }
    let request: EmbeddingsRequest =
        serde_json::from_value(value).map_err(|e| RequestError::InvalidField {
            param: "input".into(),
            reason: e.to_string(),
        })?;
    crate::openai::check_model_name("model", &request.model)?;
    Ok(request)
}

/// A JSON object body, for the routes that convert it themselves (Responses, Messages).
pub struct JsonObject(pub Value);

impl FromRequest<GatewayState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let body = json_body(request, state).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|err| RequestError::InvalidJson(err.to_string()))?;
        if !value.is_object() {
            return Err(RequestError::InvalidJson("the body must be a JSON object".into()).into());
        }
        Ok(JsonObject(value))
    }
}

/// The body's bytes (within the router's body limit, read within the body timeout), if it is
/// JSON.
async fn json_body(request: Request, state: &GatewayState) -> Result<Bytes, ApiError> {
    let is_json = is_json(request.headers());
    let timeout = state.settings.body_read_timeout;
    // A client trickling its body would hold a connection and a task for as long as it liked.
    let read = tokio::time::timeout(timeout, Bytes::from_request(request, state)).await;
    let Ok(read) = read else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            Some("request_timeout"),
            format!(
                "The request body did not arrive within {} seconds.",
                timeout.as_secs().max(1)
            ),
        ));
    };
    let body = read.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                format!(
                    "The request body is larger than {} MiB, the most the gateway accepts.",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
            );
        }
        ApiError::new(
            rejection.status(),
            "invalid_request_error",
            Some("invalid_body"),
            rejection.body_text(),
        )
    })?;
    if !is_json {
        return Err(RequestError::ContentType.into());
    }
    if json_values(&body) > MAX_JSON_VALUES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            format!(
                "The request body holds more than {MAX_JSON_VALUES} JSON values, the most the gateway decodes."
            ),
        ));
    }
    Ok(body)
}

/// Most JSON values a body may hold. Decoded, each takes tens of bytes whatever its text takes
/// (`0,` is two bytes on the wire, a 32-byte value and its slot in memory), so 32 MiB of small
/// values cost over half a gigabyte before any other check. Requests people send hold far fewer:
/// 2,048 messages, 128 tools, an embeddings batch of at most 300,000 tokens.
pub const MAX_JSON_VALUES: usize = 1_000_000;

/// How many values a JSON text holds, about (one more than its commas, plus its arrays and
/// objects), by one pass over the bytes that skips strings: what decoding it would cost, known
/// before decoding.
fn json_values(body: &[u8]) -> usize {
    let (mut count, mut in_string, mut escaped) = (1usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => count += 1,
            _ => {}
        }
    }
    count
}

fn is_json(headers: &HeaderMap) -> bool {
    // A missing content type is accepted as JSON, as OpenAI does for curl users.
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|content_type| {
            content_type
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// How many fallback models one request may name (OpenRouter's limit too): each can cost a
/// provider call with its retries.
pub const MAX_FALLBACK_MODELS: usize = 5;

/// The `models` fallback list (OpenRouter's convention), taken out of the forwarded body.
pub fn take_fallbacks(request: &mut ChatCompletionRequest) -> Result<Vec<String>, RequestError> {
    match request.extra.remove("models") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(models)) if models.len() > MAX_FALLBACK_MODELS => {
            Err(RequestError::InvalidField {
                param: "models".into(),
                reason: format!(
                    "at most {MAX_FALLBACK_MODELS} fallback models, found {}",
                    models.len()
                ),
            })
        }
        Some(Value::Array(models)) => models
            .into_iter()
            .enumerate()
            .map(|(index, model)| match model {
                Value::String(model) => {
                    crate::openai::check_model_name(&format!("models[{index}]"), &model)?;
                    Ok(model)
                }
                _ => Err(RequestError::InvalidField {
                    param: "models".into(),
                    reason: "expected model names".into(),
                }),
            })
            .collect(),
        Some(_) => Err(RequestError::InvalidField {
            param: "models".into(),
            reason: "expected an array of model names".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }

    #[test]
    fn embeddings_requests_name_the_field_at_fault() {
        assert_eq!(
            embeddings_request(br#"{"input": "hi"}"#).unwrap_err(),
            RequestError::MissingField("model".into())
        );
        assert_eq!(
            embeddings_request(br#"{"model": "m"}"#).unwrap_err(),
            RequestError::MissingField("input".into())
        );
        assert!(matches!(
            embeddings_request(br#"{"model": 5, "input": "hi"}"#),
            Err(RequestError::InvalidField { .. })
        ));
        assert!(matches!(
            embeddings_request(b"{nope"),
            Err(RequestError::InvalidJson(_))
        ));
        assert!(embeddings_request(br#"{"model": "m", "input": ["a", "b"]}"#).is_ok());
    }

    #[test]
    fn fallbacks_are_taken_out_of_the_forwarded_body() {
        let mut request = ChatCompletionRequest::from_json_bytes(
            br#"{"model": "a", "models": ["b", "c"], "messages": [{"role": "user", "content": "hi"}]}"#,
        )
        .unwrap();
        assert_eq!(take_fallbacks(&mut request).unwrap(), ["b", "c"]);
        assert!(!request.extra.contains_key("models"));

        let mut request = ChatCompletionRequest::from_json_bytes(
            br#"{"model": "a", "models": "b", "messages": [{"role": "user", "content": "hi"}]}"#,
        )
        .unwrap();
        assert!(take_fallbacks(&mut request).is_err());
    }

    #[test]
    fn json_values_are_counted_outside_strings() {
        assert_eq!(json_values(b"{}"), 2);
        assert_eq!(json_values(br#"{"a":[1,2,3],"b":"x,y,[z]"}"#), 6);
        assert_eq!(json_values(br#"{"a":"\",[{","b":1}"#), 3);
        let many = format!("[{}0]", "0,".repeat(MAX_JSON_VALUES));
        assert!(json_values(many.as_bytes()) > MAX_JSON_VALUES);
        let one_long_string = format!(r#"{{"a":"{}"}}"#, ",".repeat(MAX_JSON_VALUES * 2));
        assert_eq!(json_values(one_long_string.as_bytes()), 2);
    }

    #[test]
    fn messages_tools_and_nesting_are_bounded() {
        let with = |messages: usize, tools: usize| {
            let body = serde_json::json!({
                "messages": vec![serde_json::json!({"role": "user", "content": "hi"}); messages],
                "tools": vec![serde_json::json!({"type": "function", "function": {"name": "f"}}); tools],
            });
            ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes())
        };
        assert!(with(2048, 128).is_ok());
        assert_eq!(
            with(2049, 0).unwrap_err().to_string(),
            "Invalid value for 'messages': array too long: at most 2048 messages, found 2049"
        );
        assert_eq!(
            with(1, 129).unwrap_err().to_string(),
            "Invalid value for 'tools': array too long: at most 128 tools, found 129"
        );
        // JSON nested deeper than the parser's limit (128) is a 400, not a stack overflow.
        let deep = format!(
            r#"{{"messages": [{{"role": "user", "content": "hi"}}], "x": {}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(
            ChatCompletionRequest::from_json_bytes(deep.as_bytes()),
            Err(RequestError::InvalidJson(_))
        ));
    }

    #[test]
    fn fallback_models_are_capped() {
        let request_with = |count: usize| {
            let models: Vec<String> = (0..count).map(|i| format!("m{i}")).collect();
            let body = serde_json::json!({"model": "a", "models": models, "messages": [{"role": "user", "content": "hi"}]});
            ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
        };
        assert_eq!(
            take_fallbacks(&mut request_with(MAX_FALLBACK_MODELS))
                .unwrap()
                .len(),
            MAX_FALLBACK_MODELS
        );
        let refused = take_fallbacks(&mut request_with(MAX_FALLBACK_MODELS + 1)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Invalid value for 'models': at most 5 fallback models, found 6"
        );
        // A flood of names is refused without reading them one by one.
        assert!(take_fallbacks(&mut request_with(10_000)).is_err());
    }
}
