//! An Anthropic Messages request as a chat completion request.

use serde_json::{Map, Value, json};

use crate::dialects::wire::{DialectError, unsupported};

/// What the answer needs from the request.
#[derive(Debug, Clone, Default)]
pub struct MessagesEcho {
    /// The model as the client named it (Anthropic's SDKs show it back to the user).
    pub model: String,
}

/// A Messages request → a chat completion request (JSON).
pub fn to_chat_request(body: &Value) -> Result<(Value, MessagesEcho), DialectError> {
    let Some(object) = body.as_object() else {
        return Err(DialectError::invalid("", "the body must be a JSON object"));
    };
    let Some(max_tokens) = object.get("max_tokens").and_then(Value::as_u64) else {
        return Err(DialectError::invalid(
            "max_tokens",
            "max_tokens is required (a positive integer)",
        ));
    };
    let mut messages = Vec::new();
    match object.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(Value::Array(blocks)) => {
            let text: Vec<&str> = blocks
                .iter()
                .filter_map(|block| block["text"].as_str())
                .collect();
            messages.push(json!({"role": "system", "content": text.join("\n")}));
        }
        Some(_) => {
            return Err(DialectError::invalid(
                "system",
                "expected a string or text blocks",
            ));
        }
    }
    let Some(turns) = object.get("messages").and_then(Value::as_array) else {
        return Err(DialectError::invalid(
            "messages",
            "messages is required (an array)",
        ));
    };
    for (index, turn) in turns.iter().enumerate() {
        turn_to_chat(turn, index, &mut messages)?;
    }

    let mut chat = Map::new();
    if let Some(model) = object.get("model") {
        chat.insert("model".into(), model.clone());
    }
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("max_tokens".into(), json!(max_tokens));
    if let Some(tools) = object
        .get("tools")
        .and_then(Value::as_array)
        .filter(|tools| !tools.is_empty())
    {
        let converted = tools
            .iter()
            .enumerate()
            .map(|(index, tool)| tool_to_chat(tool, index))
            .collect::<Result<Vec<_>, _>>()?;
        chat.insert("tools".into(), Value::Array(converted));
    }
    if let Some(choice) = object.get("tool_choice").filter(|choice| !choice.is_null()) {
        let converted = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                let Some(name) = choice["name"].as_str() else {
                    return Err(DialectError::invalid(
                        "tool_choice.name",
                        "a tool choice of type tool needs a name",
                    ));
                };
                json!({"type": "function", "function": {"name": name}})
            }
            _ => {
                return Err(DialectError::invalid(
                    "tool_choice.type",
                    "expected auto, any, tool or none",
                ));
            }
        };
        chat.insert("tool_choice".into(), converted);
        if choice["disable_parallel_tool_use"].as_bool() == Some(true) {
            chat.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = object.get(field).filter(|value| !value.is_null()) {
            chat.insert(field.into(), value.clone());
        }
    }
    // Thinking asked for becomes chat's nearest field: auto-routing then prefers a model that
    // reasons, and OpenAI's reasoning models get the effort.
    if let Some(effort) = thinking_effort(object) {
        chat.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(stop) = object
        .get("stop_sequences")
        .filter(|value| !value.is_null())
    {
        chat.insert("stop".into(), stop.clone());
    }
    if let Some(user) = body
        .pointer("/metadata/user_id")
        .filter(|value| !value.is_null())
    {
        chat.insert("user".into(), user.clone());
    }
    // OpenRouter's fallback list works here as on chat.
    if let Some(models) = object.get("models") {
        chat.insert("models".into(), models.clone());
    }
    if object.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), json!(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let echo = MessagesEcho {
        model: object
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    Ok((Value::Object(chat), echo))
}

/// The effort of the thinking a Messages request asks for, in chat's `reasoning_effort` terms:
/// `output_config.effort` when given, else from an `enabled` budget; adaptive thinking's own
/// default is high.
fn thinking_effort(object: &Map<String, Value>) -> Option<&'static str> {
    let thinking = object.get("thinking")?;
    let effort = object
        .get("output_config")
        .and_then(|config| config.get("effort"))
        .and_then(Value::as_str);
    match (thinking.get("type").and_then(Value::as_str)?, effort) {
        ("enabled" | "adaptive", Some("low")) => Some("low"),
        ("enabled" | "adaptive", Some("medium")) => Some("medium"),
        ("enabled" | "adaptive", Some(_)) | ("adaptive", None) => Some("high"),
        ("enabled", None) => match thinking.get("budget_tokens").and_then(Value::as_u64) {
            Some(budget) if budget < 4096 => Some("low"),
            Some(budget) if budget < 16384 => Some("medium"),
            _ => Some("high"),
        },
        _ => None,
    }
}

/// One Anthropic turn → chat messages. A user turn's tool results become tool messages (first,
/// as chat wants them right after the assistant's calls); an assistant's tool_use blocks become
/// tool calls.
fn turn_to_chat(turn: &Value, index: usize, messages: &mut Vec<Value>) -> Result<(), DialectError> {
    let param = format!("messages[{index}]");
    let role = turn["role"].as_str().unwrap_or_default();
    if !matches!(role, "user" | "assistant" | "system") {
        return Err(DialectError::invalid(
            &format!("{param}.role"),
            "expected user or assistant",
        ));
    }
    let blocks = match &turn["content"] {
        Value::String(text) => {
            messages.push(json!({"role": role, "content": text}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(DialectError::invalid(
                &format!("{param}.content"),
                "expected a string or content blocks",
            ));
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (block_index, block) in blocks.iter().enumerate() {
        let block_param = format!("{param}.content[{block_index}]");
        match block["type"].as_str() {
            Some("text") => parts
                .push(json!({"type": "text", "text": block["text"].as_str().unwrap_or_default()})),
            Some("image") => parts.push(image_part(&block["source"], &block_param)?),
            Some("tool_use") => {
                let arguments =
                    serde_json::to_string(&block["input"]).unwrap_or_else(|_| "{}".into());
                calls.push(json!({"id": block["id"], "type": "function",
                    "function": {"name": block["name"], "arguments": arguments}}));
            }
            Some("tool_result") => {
                let mut content = match &block["content"] {
                    Value::String(text) => text.clone(),
                    Value::Array(inner) => inner
                        .iter()
                        .filter_map(|part| part["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => String::new(),
                };
                if block["is_error"].as_bool() == Some(true) {
                    content = format!("Error: {content}");
                }
                messages.push(json!({"role": "tool", "tool_call_id": block["tool_use_id"], "content": content}));
            }
            // Earlier reasoning is not sent to other providers.
            Some("thinking" | "redacted_thinking") => {}
            Some(other) => return Err(unsupported(&block_param, &format!("{other} blocks"))),
            None => {
                return Err(DialectError::invalid(
                    &block_param,
                    "a content block needs a type",
                ));
            }
        }
    }
    if role == "assistant" {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect();
        let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text.join("")) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        messages.push(message);
    } else if !parts.is_empty() {
        let only_text = parts.iter().all(|part| part["type"] == "text");
        let content = if only_text {
            json!(
                parts
                    .iter()
                    .filter_map(|part| part["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        } else {
            Value::Array(parts)
        };
        messages.push(json!({"role": role, "content": content}));
    }
    Ok(())
}

fn image_part(source: &Value, param: &str) -> Result<Value, DialectError> {
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        ),
        Some("url") => source["url"].as_str().unwrap_or_default().to_owned(),
        _ => return Err(unsupported(&format!("{param}.source"), "images by file id")),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn tool_to_chat(tool: &Value, index: usize) -> Result<Value, DialectError> {
    let param = format!("tools[{index}]");
    if let Some(kind) = tool["type"].as_str().filter(|kind| *kind != "custom") {
        return Err(unsupported(&param, &format!("server tools ({kind})")));
    }
    let Some(name) = tool["name"].as_str() else {
        return Err(DialectError::invalid(&param, "a tool needs a name"));
    };
    let mut function = json!({"name": name, "parameters": tool.get("input_schema").cloned().unwrap_or(json!({"type": "object"}))});
    if let Some(description) = tool["description"].as_str() {
        function["description"] = json!(description);
    }
    Ok(json!({"type": "function", "function": function}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_with_tools_images_and_results_becomes_chat() {
        let (chat, echo) = to_chat_request(&json!({
            "model": "claude-3-5-haiku-latest", "max_tokens": 256,
            "system": [{"type": "text", "text": "Be terse."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "text", "text": "And tomorrow?"}]}
            ],
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"}, "top_k": 5
        }))
        .unwrap();
        assert_eq!(echo.model, "claude-3-5-haiku-latest");
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(
            messages[0],
            json!({"role": "system", "content": "Be terse."})
        );
        assert_eq!(
            messages[1]["content"][1],
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})
        );
        assert_eq!(messages[2]["content"], "Checking.");
        assert_eq!(
            messages[2]["tool_calls"][0]["function"],
            json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"})
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "18C"})
        );
        assert_eq!(
            messages[4],
            json!({"role": "user", "content": "And tomorrow?"})
        );
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["parallel_tool_calls"], false);
        assert_eq!(
            chat["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(
            (
                chat["max_tokens"].clone(),
                chat["stop"].clone(),
                chat["user"].clone()
            ),
            (json!(256), json!(["END"]), json!("u1"))
        );
    }

    #[test]
    fn thinking_becomes_a_reasoning_effort() {
        let effort = |extra: Value| {
            let mut body =
                json!({"max_tokens": 32000, "messages": [{"role": "user", "content": "hi"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            to_chat_request(&body)
                .unwrap()
                .0
                .get("reasoning_effort")
                .cloned()
        };
        assert_eq!(effort(json!({})), None);
        assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
        assert_eq!(
            effort(json!({"thinking": {"type": "adaptive"}})),
            Some(json!("high"))
        );
        assert_eq!(
            effort(
                json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}})
            ),
            Some(json!("medium"))
        );
        assert_eq!(
            effort(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})),
            Some(json!("low"))
        );
        assert_eq!(
            effort(json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})),
            Some(json!("high"))
        );
    }

    #[test]
    fn max_tokens_is_required_and_server_tools_are_refused() {
        let err = to_chat_request(&json!({"model": "m", "messages": []})).unwrap_err();
        assert_eq!(err.param, "max_tokens");
        let err = to_chat_request(&json!({"model": "m", "max_tokens": 5, "messages": [],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]}))
        .unwrap_err();
        assert_eq!(err.param, "tools[0]");
    }
}
