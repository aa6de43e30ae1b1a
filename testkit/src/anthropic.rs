//! The fake Anthropic: messages (whole and streamed) and token counts.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::respond::{json_response, refusal_response, sse_response, sse_response_watched};
use crate::shared::Shared;
use crate::strict;

/// Records an Anthropic request and checks its `x-api-key`: the parsed body, or the 401.
pub(crate) fn anthropic_request(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Response> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = shared.record("anthropic", path.into(), key.clone(), headers, body);
    if !shared.key_ok(key.as_deref()) {
        return Err(json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("anthropic/error_authentication.json"),
            &[],
        ));
    }
    Ok(request)
}

/// `GET /v1/models`: the models the key may use; like every Anthropic route it requires
/// `anthropic-version` as well as the key.
pub(crate) async fn anthropic_models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = anthropic_request(&shared, "/v1/models", &headers, &Bytes::new()) {
        return refused;
    }
    if headers.get("anthropic-version").is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"},"request_id":"req_fake_models"}"#,
            &[],
        );
    }
    json_response(StatusCode::OK, fixture!("anthropic/models.json"), &[])
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, n a character count over four (the
/// real API tokenises; the shape is what matters here).
pub(crate) async fn anthropic_count_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match anthropic_request(&shared, "/v1/messages/count_tokens", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if request.get("messages").and_then(Value::as_array).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            fixture!("anthropic/error_invalid_request.json"),
            &[],
        );
    }
    let characters = request["messages"].to_string().len() + request["system"].to_string().len();
    json_response(
        StatusCode::OK,
        &format!("{{\"input_tokens\":{}}}", characters.div_ceil(4)),
        &[],
    )
}

pub(crate) async fn anthropic(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match anthropic_request(&shared, "/v1/messages", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if headers.get("anthropic-version").is_none() || request.get("max_tokens").is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            fixture!("anthropic/error_invalid_request.json"),
            &[],
        );
    }
    // The real Anthropic's rules for the real model names.
    if let Some(refusal) = strict::anthropic_messages(&request) {
        return refusal_response(refusal, &[("request-id", "req_fake_strict")]);
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // A forced tool (JSON mode, or tool_choice naming a function) is answered with that tool;
    // `tool_choice: {"type": "any"}` (a real model only) with the last tool of `tools`, a
    // deterministic stand-in for the model's own choice.
    let any_tool = (!strict::is_fake_model(model)
        && request.pointer("/tool_choice/type").and_then(Value::as_str) == Some("any"))
    .then(|| {
        request
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|tools| tools.last())
            .and_then(|tool| tool.get("name"))
            .and_then(Value::as_str)
    })
    .flatten();
    let forced_tool = request
        .pointer("/tool_choice/name")
        .and_then(Value::as_str)
        .or(any_tool);
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("anthropic/error_rate_limit.json"),
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::from_u16(529).unwrap(),
            fixture!("anthropic/error_overloaded.json"),
            &[],
        ),
        "fake-flaky" if shared.flaky_fails() => json_response(
            StatusCode::from_u16(529).unwrap(),
            fixture!("anthropic/error_overloaded.json"),
            &[],
        ),
        "fake-missing-model" => json_response(
            StatusCode::NOT_FOUND,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: fake-missing-model"}}"#,
            &[],
        ),
        "fake-garbage" => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        "fake-stream-cut" if stream => {
            sse_response(fixture!("anthropic/message_stream.sse"), "\n\n", true)
        }
        _ if model == "fake-tools" || forced_tool.is_some() => {
            if stream {
                let events = fixture!("anthropic/message_tool_use_stream.sse");
                // The named tool's stream stays the fixture's, as before; the `any` choice
                // streams the chosen tool's name.
                match any_tool.filter(|_| forced_tool == any_tool) {
                    Some(name) => {
                        let quoted = Value::String(name.to_owned()).to_string();
                        let events = events
                            .replace(r#""name":"get_weather""#, &format!(r#""name":{quoted}"#));
                        sse_response(&events, "\n\n", false)
                    }
                    None => sse_response(events, "\n\n", false),
                }
            } else {
                let mut answer: Value =
                    serde_json::from_str(fixture!("anthropic/message_tool_use.json")).unwrap();
                if let Some(name) = forced_tool {
                    answer["content"] = json!([{"type": "tool_use", "id": "toolu_fake01", "name": name, "input": {"city": "Paris"}}]);
                }
                json_response(StatusCode::OK, &answer.to_string(), &[])
            }
        }
        _ if stream => sse_response_watched(
            fixture!("anthropic/message_stream.sse"),
            "\n\n",
            false,
            Some(shared.abandoned_streams.clone()),
            shared.stream_pause(),
        ),
        _ => json_response(
            StatusCode::OK,
            fixture!("anthropic/message.json"),
            &[("request-id", "req_fake01")],
        ),
    }
}
