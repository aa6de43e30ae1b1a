//! A Responses request as a chat completion request.

use serde_json::{Map, Value, json};

use super::tools;
use crate::dialects::wire::{DialectError, unsupported};

/// What the answer needs from the request (the Response object echoes these).
#[derive(Debug, Clone, Default)]
pub struct ResponsesEcho {
    pub instructions: Value,
    pub tools: Value,
    pub tool_choice: Value,
    pub text: Value,
    pub temperature: Value,
    pub top_p: Value,
    pub max_output_tokens: Value,
    pub parallel_tool_calls: bool,
    pub metadata: Value,
    pub user: Value,
}

/// A Responses request → a chat completion request (JSON) and what the answer echoes.
pub fn to_chat_request(body: &Value) -> Result<(Value, ResponsesEcho), DialectError> {
    let Some(object) = body.as_object() else {
        return Err(DialectError::invalid("", "the body must be a JSON object"));
    };
    if object.get("store").and_then(Value::as_bool) == Some(true) {
        return Err(DialectError::invalid(
            "store",
            "store: true is not supported: the gateway never keeps prompts or answers, so it cannot store responses; send store: false (or leave it out) and pass the conversation in input",
        ));
    }
    for (field, what) in [
        ("previous_response_id", "previous_response_id"),
        ("conversation", "conversation"),
    ] {
        if object.get(field).is_some_and(|value| !value.is_null()) {
            return Err(DialectError::invalid(
                field,
                &format!(
                    "{what} is not supported: the gateway never stores conversations; send the earlier turns in input instead"
                ),
            ));
        }
    }
    if object.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported("background", "background responses"));
    }

    let mut messages = Vec::new();
    if let Some(instructions) = object.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match object.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                input_item(item, index, &mut messages)?;
            }
        }
        None | Some(Value::Null) => {
            return Err(DialectError::invalid("input", "input is required"));
        }
        Some(_) => {
            return Err(DialectError::invalid(
                "input",
                "expected a string or an array of input items",
            ));
        }
    }

    let mut chat = Map::new();
    if let Some(model) = object.get("model") {
        chat.insert("model".into(), model.clone());
    }
    chat.insert("messages".into(), Value::Array(messages));
    let tools = match object.get("tools") {
        Some(Value::Array(tools)) if !tools.is_empty() => {
            chat.insert("tools".into(), Value::Array(tools::to_chat(tools)?));
            Value::Array(tools.clone())
        }
        _ => json!([]),
    };
    let tool_choice = object.get("tool_choice").cloned().unwrap_or(json!("auto"));
    match &tool_choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            if object.contains_key("tool_choice") {
                chat.insert("tool_choice".into(), tool_choice.clone());
            }
        }
        Value::Object(choice) if choice.get("type") == Some(&json!("function")) => {
            let Some(name) = choice.get("name").and_then(Value::as_str) else {
                return Err(DialectError::invalid(
                    "tool_choice",
                    "a function tool_choice needs a name",
                ));
            };
            chat.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
        _ => {
            return Err(unsupported(
                "tool_choice",
                "a tool_choice naming a hosted tool",
            ));
        }
    }
    let text = object
        .get("text")
        .cloned()
        .unwrap_or(json!({"format": {"type": "text"}}));
    if let Some(format) = text.get("format") {
        match format.get("type").and_then(Value::as_str) {
            None | Some("text") => {}
            Some("json_object") => {
                chat.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some("json_schema") => {
                let mut schema = Map::new();
                for field in ["name", "schema", "strict", "description"] {
                    if let Some(value) = format.get(field) {
                        schema.insert(field.into(), value.clone());
                    }
                }
                chat.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": schema}),
                );
            }
            Some(other) => return Err(unsupported("text.format", &format!("the {other} format"))),
        }
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("max_output_tokens", "max_completion_tokens"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("user", "user"),
    ] {
        if let Some(value) = object.get(from).filter(|value| !value.is_null()) {
            chat.insert(to.into(), value.clone());
        }
    }
    if let Some(effort) = body
        .pointer("/reasoning/effort")
        .filter(|effort| effort.is_string())
    {
        chat.insert("reasoning_effort".into(), effort.clone());
    }
    // OpenRouter's fallback list works here as on chat.
    if let Some(models) = object.get("models") {
        chat.insert("models".into(), models.clone());
    }
    if object.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), json!(true));
        // The closing `response.completed` carries usage.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let echo = ResponsesEcho {
        instructions: object.get("instructions").cloned().unwrap_or(Value::Null),
        tools,
        tool_choice,
        text,
        temperature: object.get("temperature").cloned().unwrap_or(Value::Null),
        top_p: object.get("top_p").cloned().unwrap_or(Value::Null),
        max_output_tokens: object
            .get("max_output_tokens")
            .cloned()
            .unwrap_or(Value::Null),
        parallel_tool_calls: object
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        metadata: object.get("metadata").cloned().unwrap_or(json!({})),
        user: object.get("user").cloned().unwrap_or(Value::Null),
    };
    Ok((Value::Object(chat), echo))
}

/// One input item → chat messages (a function call joins the assistant message before it).
fn input_item(item: &Value, index: usize, messages: &mut Vec<Value>) -> Result<(), DialectError> {
    let param = format!("input[{index}]");
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        None | Some("message") => {
            let Some(role) = item.get("role").and_then(Value::as_str) else {
                return Err(DialectError::invalid(&param, "a message needs a role"));
            };
            if !matches!(role, "user" | "assistant" | "system" | "developer") {
                return Err(DialectError::invalid(
                    &format!("{param}.role"),
                    &format!("unknown role {role:?}"),
                ));
            }
            let content = message_content(item.get("content"), role, &param)?;
            messages.push(json!({"role": role, "content": content}));
        }
        Some("function_call") => {
            let (Some(call_id), Some(name)) = (
                item.get("call_id").and_then(Value::as_str),
                item.get("name").and_then(Value::as_str),
            ) else {
                return Err(DialectError::invalid(
                    &param,
                    "a function_call needs call_id and name",
                ));
            };
            let arguments = item
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            // A call of a namespace's tool goes by the flat name the translation offered.
            let name = match item.get("namespace").and_then(Value::as_str) {
                Some(namespace) => tools::flat_name(namespace, name),
                None => name.to_owned(),
            };
            let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
            match messages.last_mut() {
                Some(last) if last["role"] == "assistant" && last.get("tool_calls").is_some() => {
                    last["tool_calls"]
                        .as_array_mut()
                        .map(|calls| calls.push(call));
                }
                Some(last) if last["role"] == "assistant" => {
                    last["tool_calls"] = json!([call]);
                }
                _ => messages
                    .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        Some("function_call_output") => {
            let Some(call_id) = item.get("call_id").and_then(Value::as_str) else {
                return Err(DialectError::invalid(
                    &param,
                    "a function_call_output needs call_id",
                ));
            };
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|part| part.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => {
                    return Err(DialectError::invalid(
                        &format!("{param}.output"),
                        "expected a string",
                    ));
                }
            };
            messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
        }
        // Reasoning the model did earlier is not sent back to other providers.
        Some("reasoning") => {}
        Some("item_reference") => {
            return Err(DialectError::invalid(
                &param,
                "item_reference is not supported: the gateway never stores items; send the item itself",
            ));
        }
        Some(other) => {
            return Err(unsupported(
                &format!("{param}.type"),
                &format!("{other} input items"),
            ));
        }
    }
    Ok(())
}

/// A message's content → chat content (a string, or parts for images).
fn message_content(
    content: Option<&Value>,
    role: &str,
    param: &str,
) -> Result<Value, DialectError> {
    let parts = match content {
        Some(Value::String(text)) => return Ok(json!(text)),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(DialectError::invalid(
                &format!("{param}.content"),
                "expected a string or content parts",
            ));
        }
    };
    let mut converted = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let part_param = format!("{param}.content[{index}]");
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                converted.push(json!({"type": "text", "text": text}));
            }
            Some("refusal") => {
                let text = part
                    .get("refusal")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                converted.push(json!({"type": "text", "text": text}));
            }
            Some("input_image") => {
                let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                    return Err(unsupported(
                        &part_param,
                        "images by file_id (send image_url)",
                    ));
                };
                let mut image = json!({"url": url});
                if let Some(detail) = part
                    .get("detail")
                    .and_then(Value::as_str)
                    .filter(|d| *d != "original")
                {
                    image["detail"] = json!(detail);
                }
                converted.push(json!({"type": "image_url", "image_url": image}));
            }
            Some(other) => return Err(unsupported(&part_param, &format!("{other} content"))),
            None => {
                return Err(DialectError::invalid(
                    &part_param,
                    "a content part needs a type",
                ));
            }
        }
    }
    // Chat takes an assistant's (and a system message's) content as text.
    if role != "user" {
        let text: Vec<&str> = converted
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect();
        return Ok(json!(text.join("")));
    }
    Ok(Value::Array(converted))
}

/// The request with what chat cannot express left out (hosted tools, file inputs, items of
/// hosted tools): only to route it, when the whole request may go to OpenAI as it is.
pub fn routing_view(body: &Value) -> Result<(Value, ResponsesEcho), DialectError> {
    let mut view = body.clone();
    if let Some(tools) = view.get_mut("tools").and_then(Value::as_array_mut) {
        tools.retain(|tool| tool["type"] == "function");
    }
    if view
        .get("tool_choice")
        .is_some_and(|choice| !(choice.is_string() || choice["type"] == "function"))
    {
        view.as_object_mut()
            .map(|fields| fields.remove("tool_choice"));
    }
    if let Some(items) = view.get_mut("input").and_then(Value::as_array_mut) {
        items.retain(|item| {
            matches!(
                item.get("type").and_then(Value::as_str),
                None | Some("message" | "function_call" | "function_call_output" | "reasoning")
            )
        });
        for item in items.iter_mut() {
            if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
                parts.retain(|part| match part["type"].as_str() {
                    Some("input_image") => part["image_url"].is_string(),
                    Some(kind) => matches!(kind, "input_text" | "output_text" | "text" | "refusal"),
                    None => false,
                });
            }
        }
    }
    let format = view.pointer("/text/format/type").and_then(Value::as_str);
    if format.is_some_and(|kind| !matches!(kind, "text" | "json_object" | "json_schema")) {
        view["text"] = json!({"format": {"type": "text"}});
    }
    to_chat_request(&view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_with_instructions_becomes_two_chat_messages() {
        let (chat, echo) = to_chat_request(&json!({
            "model": "auto", "instructions": "Be brief.", "input": "Hi", "max_output_tokens": 50,
            "temperature": 0.2, "text": {"format": {"type": "json_object"}}
        }))
        .unwrap();
        assert_eq!(
            chat,
            json!({"model": "auto", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                   "response_format": {"type": "json_object"}, "temperature": 0.2, "max_completion_tokens": 50})
        );
        assert_eq!(echo.instructions, json!("Be brief."));
        assert!(echo.parallel_tool_calls);
    }

    #[test]
    fn a_function_call_round_trip_becomes_assistant_tool_calls_and_a_tool_message() {
        let (chat, _) = to_chat_request(&json!({
            "model": "gpt-4o-mini",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_2", "output": "noon"}
            ],
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}],
            "tool_choice": {"type": "function", "name": "get_weather"}
        }))
        .unwrap();
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4);
        assert_eq!(
            messages[0]["content"][1]["image_url"],
            json!({"url": "data:image/png;base64,AAAA", "detail": "auto"})
        );
        assert_eq!(messages[1]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(
            messages[1]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            messages[2],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "18C"})
        );
        assert_eq!(
            chat["tools"][0],
            json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": true}})
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type": "function", "function": {"name": "get_weather"}})
        );
    }

    #[test]
    fn the_routing_view_leaves_out_what_chat_cannot_express() {
        let body = json!({"model": "gpt-4o", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Summarise"},
                {"type": "input_file", "file_id": "file_1"}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"}],
            "tools": [{"type": "web_search"}, {"type": "function", "name": "f"}],
            "tool_choice": {"type": "web_search"}});
        let refused = to_chat_request(&body).unwrap_err();
        assert!(refused.unsupported, "{}", refused.message);
        let (chat, _) = routing_view(&body).unwrap();
        assert_eq!(
            chat["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "Summarise"}]}])
        );
        assert_eq!(chat["tools"].as_array().unwrap().len(), 1);
        // What is wrong in itself stays wrong.
        assert!(
            !to_chat_request(&json!({"input": "x", "store": true}))
                .unwrap_err()
                .unsupported
        );
    }

    #[test]
    fn stored_state_and_hosted_tools_are_refused_with_the_reason() {
        for (body, param, says) in [
            (json!({"input": "x", "store": true}), "store", "never keeps"),
            (
                json!({"input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
                "never stores",
            ),
            (
                json!({"input": "x", "tools": [{"type": "web_search"}]}),
                "tools[0]",
                "web_search tools",
            ),
            (
                json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
                "input[0]",
                "item_reference",
            ),
            (json!({"model": "m"}), "input", "required"),
        ] {
            let err = to_chat_request(&body).unwrap_err();
            assert_eq!(err.param, param, "{body}");
            assert!(err.message.contains(says), "{}", err.message);
        }
        // Leaving store out, or false, is fine.
        to_chat_request(&json!({"input": "x", "store": false})).unwrap();
    }
}
