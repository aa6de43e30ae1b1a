//! A whole chat completion → an Anthropic message; Anthropic's error shape.

use serde_json::{Value, json};

use super::request::MessagesEcho;
use crate::dialects::wire::new_id;

pub(super) fn stop_reason(finish_reason: Option<&str>) -> Value {
    match finish_reason {
        Some("length") => json!("max_tokens"),
        Some("tool_calls" | "function_call") => json!("tool_use"),
        Some("content_filter") => json!("refusal"),
        Some(_) => json!("end_turn"),
        None => Value::Null,
    }
}

pub(super) fn usage(chat_usage: &Value) -> Value {
    json!({
        "input_tokens": chat_usage["prompt_tokens"].as_u64().unwrap_or(0),
        "output_tokens": chat_usage["completion_tokens"].as_u64().unwrap_or(0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": chat_usage.pointer("/prompt_tokens_details/cached_tokens").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// A tool call's arguments as the object Anthropic's `input` is (`{}` when they do not parse).
fn input_of(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({}),
    }
}

pub(super) fn message_id(chat_id: Option<&str>) -> String {
    match chat_id {
        Some(id) if !id.is_empty() => format!("msg_{}", id.trim_start_matches("chatcmpl-")),
        _ => new_id("msg"),
    }
}

/// A chat completion → an Anthropic message.
pub fn from_chat_completion(completion: &Value, echo: &MessagesEcho) -> Value {
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|text| !text.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": input_of(call["function"]["arguments"].as_str().unwrap_or("{}")),
        }));
    }
    json!({
        "id": message_id(completion["id"].as_str()),
        "type": "message",
        "role": "assistant",
        "model": if echo.model.is_empty() { completion["model"].clone() } else { json!(echo.model) },
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": usage(&completion["usage"]),
    })
}

/// The error body of this route: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(status: u16, message: &str) -> Value {
    crate::error::anthropic_error_body(status, message)
}

/// Anthropic's error type for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    crate::error::anthropic_error_type(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_becomes_a_message_with_tool_use_blocks() {
        let message = from_chat_completion(
            &json!({"id": "chatcmpl-x", "model": "gpt-4o-mini", "choices": [{"finish_reason": "tool_calls", "message": {
                "content": "Sure.", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3}}),
            &MessagesEcho {
                model: "auto".into(),
            },
        );
        assert_eq!(message["id"], "msg_x");
        assert_eq!(message["model"], "auto");
        assert_eq!(
            message["content"][0],
            json!({"type": "text", "text": "Sure."})
        );
        assert_eq!(
            message["content"][1],
            json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["usage"]["input_tokens"], 7);
    }

    #[test]
    fn error_types_follow_the_status() {
        assert_eq!(
            error_body(401, "no")["error"]["type"],
            "authentication_error"
        );
        assert_eq!(error_type(429), "rate_limit_error");
        assert_eq!(error_type(422), "invalid_request_error");
        assert_eq!(error_type(502), "api_error");
        // One table both ways: every type Anthropic documents comes back from its own status.
        for kind in [
            "invalid_request_error",
            "authentication_error",
            "billing_error",
            "permission_error",
            "not_found_error",
            "request_too_large",
            "rate_limit_error",
            "api_error",
            "timeout_error",
            "overloaded_error",
        ] {
            let status = crate::error::anthropic_status(kind);
            assert_eq!(error_type(status.as_u16()), kind);
        }
        assert_eq!(
            crate::error::anthropic_status("a_type_added_later").as_u16(),
            500
        );
    }
}
