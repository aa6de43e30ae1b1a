//! A whole chat completion → a Response object.

use serde_json::{Map, Value, json};

use super::request::ResponsesEcho;
use crate::dialects::wire::new_id;

/// The Response object's fields other than id, status, output and usage.
pub(super) fn response_object(
    id: &str,
    created_at: i64,
    model: &str,
    echo: &ResponsesEcho,
) -> Map<String, Value> {
    let object = json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": null,
        "incomplete_details": null,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": null,
        "user": echo.user,
        "metadata": echo.metadata,
    });
    object.as_object().cloned().unwrap_or_default()
}

pub(super) fn usage(chat_usage: &Value) -> Value {
    let input = chat_usage["prompt_tokens"].as_u64().unwrap_or(0);
    let output = chat_usage["completion_tokens"].as_u64().unwrap_or(0);
    let cached = chat_usage
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let reasoning = chat_usage
        .pointer("/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input + output,
    })
}

pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    })
}

/// A `function_call` item; `name` is the chat name, mapped back to the namespace and name the
/// client offered (`echo.tools`).
pub(super) fn function_call_item(
    echo: &ResponsesEcho,
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    let (namespace, name) = super::tools::split_name(&echo.tools, name);
    let mut item = json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    });
    if let Some(namespace) = namespace {
        item["namespace"] = json!(namespace);
    }
    item
}

/// `incomplete` when the answer was cut at the token limit.
pub(super) fn status_of(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A chat completion → a Response object.
pub fn from_chat_completion(completion: &Value, echo: &ResponsesEcho) -> Value {
    let id = format!("resp_{}", suffix(completion["id"].as_str()));
    let created = completion["created"].as_i64().unwrap_or_else(now_secs);
    let model = completion["model"].as_str().unwrap_or_default();
    let mut response = response_object(&id, created, model, echo);
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let mut output = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|text| !text.is_empty()) {
        output.push(message_item(&new_id("msg"), text, "completed"));
    } else if let Some(refusal) = message["refusal"].as_str() {
        output.push(json!({
            "id": new_id("msg"), "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "refusal", "refusal": refusal}],
        }));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        output.push(function_call_item(
            echo,
            &new_id("fc"),
            call["id"].as_str().unwrap_or_default(),
            call["function"]["name"].as_str().unwrap_or_default(),
            call["function"]["arguments"].as_str().unwrap_or("{}"),
            "completed",
        ));
    }
    let (status, incomplete) = status_of(choice["finish_reason"].as_str());
    response.insert("status".into(), json!(status));
    response.insert("incomplete_details".into(), incomplete);
    response.insert("completed_at".into(), json!(now_secs()));
    response.insert("output".into(), Value::Array(output));
    response.insert("usage".into(), usage(&completion["usage"]));
    Value::Object(response)
}

pub(super) fn suffix(chat_id: Option<&str>) -> String {
    match chat_id {
        Some(id) if !id.is_empty() => id.trim_start_matches("chatcmpl-").to_owned(),
        _ => new_id("").trim_start_matches('_').to_owned(),
    }
}

pub(super) fn now_secs() -> i64 {
    crate::clock::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_with_text_and_a_call_becomes_two_output_items() {
        let completion = json!({
            "id": "chatcmpl-abc", "created": 1_700_000_000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        });
        let response = from_chat_completion(&completion, &ResponsesEcho::default());
        assert_eq!(response["id"], "resp_abc");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["output"][0]["content"][0]["text"], "Checking.");
        assert_eq!(response["output"][1]["call_id"], "call_9");
        assert_eq!(response["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(response["usage"]["total_tokens"], 15);
        assert_eq!(
            response["usage"]["input_tokens_details"]["cache_write_tokens"],
            0
        );
    }
}
