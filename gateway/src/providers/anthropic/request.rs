//! OpenAI chat request → Anthropic Messages request.

use serde_json::{Map, Value, json};

use crate::error::RequestError;
use crate::openai::{
    ChatCompletionRequest, ChatParams, Content, ContentPart, Message, ResponseFormat, ToolChoice,
};

/// Anthropic requires `max_tokens`; this is used when the request has none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A converted request, plus the name of the tool that carries JSON-mode output, if any.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AnthropicRequest {
    pub(super) body: Value,
    pub(super) json_tool: Option<String>,
}

fn unsupported(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: format!("{reason} (not supported by Anthropic)"),
    }
}

/// OpenAI chat request → Anthropic Messages request.
pub(super) fn to_request(
    request: &ChatCompletionRequest,
    model: &str,
    stream: bool,
) -> Result<AnthropicRequest, RequestError> {
    let params = request.params()?;
    check_params(&params)?;
    let messages = request.typed_messages()?;

    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, blocks) = match message {
            Message::System { content } | Message::Developer { content } => {
                system.push(content.text());
                continue;
            }
            Message::User { content } => ("user", content_blocks(content, index)?),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = match content {
                    Some(content) => content_blocks(content, index)?,
                    None => Vec::new(),
                };
                for call in tool_calls {
                    let input = call.parsed_arguments(index)?;
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Message::Tool {
                content,
                tool_call_id,
            } => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content.text()}),
                ],
            ),
            Message::Function { .. } => {
                return Err(unsupported(
                    &format!("messages[{index}].role"),
                    "the deprecated `function` role",
                ));
            }
        };
        // Anthropic wants one message per turn: consecutive messages of a role are merged (this
        // also gathers the results of parallel tool calls into one user turn).
        match turns.last_mut() {
            Some((last_role, last_blocks)) if last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role.to_owned(), blocks)),
        }
    }
    if turns.is_empty() {
        return Err(RequestError::InvalidField {
            param: "messages".into(),
            reason:
                "Anthropic needs at least one user or assistant message besides the system prompt"
                    .into(),
        });
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(params.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(temperature) = params.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = params.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if !params.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(params.stop));
    }
    if let Some(user) = &params.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }

    // JSON output is a tool whose input is the answer (Anthropic's structured-output idiom).
    // Beside the client's own tools it is one more, and the model must call one of them: a tool
    // of the client's, or this one to answer.
    let json_tool = match &params.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(format) => {
            let (name, schema) = match format {
                ResponseFormat::JsonSchema { name, schema, .. } => (name.clone(), schema.clone()),
                _ => ("json_response".to_owned(), json!({"type": "object"})),
            };
            let name = if params.tools.iter().any(|tool| tool.function.name == name) {
                format!("{name}_json")
            } else {
                name
            };
            Some((name, schema))
        }
    };
    let mut tools: Vec<Value> = params
        .tools
        .iter()
        .map(|tool| {
            let mut converted = json!({
                "name": tool.function.name,
                "input_schema": tool.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
            if let Some(description) = &tool.function.description {
                converted["description"] = json!(description);
            }
            converted
        })
        .collect();
    if let Some((name, schema)) = &json_tool {
        tools.push(json!({"name": name, "description": "Respond with JSON matching this schema.", "input_schema": schema}));
    }
    if !tools.is_empty() {
        let mut choice = match (&params.tool_choice, &json_tool) {
            (Some(ToolChoice::Function(name)), _) => json!({"type": "tool", "name": name}),
            (Some(ToolChoice::Required), _) => json!({"type": "any"}),
            // No tool of the client's may be called: the answer tool is forced.
            (Some(ToolChoice::None), Some((name, _))) => json!({"type": "tool", "name": name}),
            (Some(ToolChoice::None), None) => json!({"type": "none"}),
            (None | Some(ToolChoice::Auto), Some((name, _))) if params.tools.is_empty() => {
                json!({"type": "tool", "name": name})
            }
            (None | Some(ToolChoice::Auto), Some(_)) => json!({"type": "any"}),
            (None | Some(ToolChoice::Auto), None) => json!({"type": "auto"}),
        };
        if params.parallel_tool_calls == Some(false) && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tools".into(), Value::Array(tools));
        body.insert("tool_choice".into(), choice);
    }
    Ok(AnthropicRequest {
        body: Value::Object(body),
        json_tool: json_tool.map(|(name, _)| name),
    })
}

fn check_params(params: &ChatParams) -> Result<(), RequestError> {
    if params.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n", "more than one choice"));
    }
    if params.logprobs {
        return Err(unsupported("logprobs", "log probabilities"));
    }
    if params
        .temperature
        .is_some_and(|t| !(0.0..=1.0).contains(&t))
    {
        return Err(unsupported("temperature", "a temperature outside 0–1"));
    }
    for (name, value) in [
        ("presence_penalty", params.presence_penalty),
        ("frequency_penalty", params.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(unsupported(name, "penalties"));
        }
    }
    Ok(())
}

fn content_blocks(content: &Content, index: usize) -> Result<Vec<Value>, RequestError> {
    let parts = match content {
        Content::Text(text) => return Ok(vec![json!({"type": "text", "text": text})]),
        Content::Parts(parts) => parts,
    };
    parts
        .iter()
        .enumerate()
        .map(|(part_index, part)| match part {
            ContentPart::Text { text } => Ok(json!({"type": "text", "text": text})),
            ContentPart::Refusal { refusal } => Ok(json!({"type": "text", "text": refusal})),
            ContentPart::ImageUrl { image_url } => Ok(match image_url.inline() {
                Some(image) => json!({
                    "type": "image",
                    "source": {"type": "base64", "media_type": image.media_type, "data": image.base64},
                }),
                None => json!({"type": "image", "source": {"type": "url", "url": image_url.url}}),
            }),
            ContentPart::InputAudio { .. } | ContentPart::File { .. } => Err(unsupported(
                &format!("messages[{index}].content[{part_index}]"),
                "audio and file parts",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::response::from_response;
    use crate::test_support::request;

    #[test]
    fn lifts_the_system_prompt_and_defaults_max_tokens() {
        let converted = to_request(
            &request(json!({
                "model": "x",
                "messages": [
                    {"role": "system", "content": "Be terse."},
                    {"role": "developer", "content": "Answer in French."},
                    {"role": "user", "content": "Hi"}
                ],
                "stop": "END",
                "temperature": 0.5,
                "user": "u-1"
            })),
            "claude-3-5-haiku-latest",
            false,
        )
        .unwrap();
        assert_eq!(
            converted.body,
            json!({
                "model": "claude-3-5-haiku-latest",
                "max_tokens": DEFAULT_MAX_TOKENS,
                "system": "Be terse.\n\nAnswer in French.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "stop_sequences": ["END"],
                "temperature": 0.5,
                "metadata": {"user_id": "u-1"}
            })
        );
    }

    #[test]
    fn converts_images_tools_and_tool_results() {
        let converted = to_request(
            &request(json!({
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "24C"}
                ],
                "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
                "tool_choice": "required",
                "parallel_tool_calls": false,
                "max_completion_tokens": 100
            })),
            "claude-sonnet-4-0",
            true,
        )
        .unwrap()
        .body;
        assert_eq!(
            body_path(&converted, "/messages/0/content/1/source"),
            json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
        );
        assert_eq!(
            body_path(&converted, "/messages/0/content/2/source"),
            json!({"type": "url", "url": "https://example.com/cat.jpg"})
        );
        assert_eq!(
            body_path(&converted, "/messages/1/content/1"),
            json!({"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}})
        );
        // Both tool results in one user turn.
        assert_eq!(converted["messages"].as_array().unwrap().len(), 3);
        assert_eq!(
            body_path(&converted, "/messages/2/content/1"),
            json!({"type": "tool_result", "tool_use_id": "call_2", "content": "24C"})
        );
        assert_eq!(
            converted["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            converted["tools"][0]["input_schema"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(converted["max_tokens"], 100);
        assert_eq!(converted["stream"], true);
    }

    fn body_path(body: &Value, pointer: &str) -> Value {
        body.pointer(pointer).cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn refuses_what_anthropic_cannot_do() {
        for (field, value) in [
            ("n", json!(2)),
            ("logprobs", json!(true)),
            ("temperature", json!(1.5)),
            ("presence_penalty", json!(0.5)),
        ] {
            let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
            body[field] = value;
            let err = to_request(&request(body), "m", false).unwrap_err();
            assert!(
                matches!(&err, RequestError::InvalidField { param, .. } if param == field),
                "{field}: {err:?}"
            );
        }
        let only_system = request(json!({"messages": [{"role": "system", "content": "x"}]}));
        assert!(to_request(&only_system, "m", false).is_err());
    }

    #[test]
    fn json_output_beside_tools_is_one_more_tool_and_a_tool_must_be_called() {
        let agent = json!({
            "messages": [{"role": "user", "content": "Weather in Paris, as JSON"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "final_output", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}
        });
        let converted = to_request(&request(agent.clone()), "m", false).unwrap();
        let names: Vec<&str> = converted.body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_weather", "final_output"]);
        assert_eq!(converted.body["tool_choice"], json!({"type": "any"}));
        assert_eq!(converted.json_tool.as_deref(), Some("final_output"));
        // tool_choice none: only the answer may come, so its tool is forced.
        let mut none = agent.clone();
        none["tool_choice"] = json!("none");
        let converted = to_request(&request(none), "m", false).unwrap();
        assert_eq!(
            converted.body["tool_choice"],
            json!({"type": "tool", "name": "final_output"})
        );
        // A call of the client's tool stays a tool call; the answer tool is the answer.
        let called = |name: &str| {
            let response = json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": name, "input": {"city": "Paris"}}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 3}
            });
            from_response(response.to_string().as_bytes(), Some("final_output"), 0).unwrap()
        };
        let tool_call = called("get_weather");
        assert_eq!(
            tool_call.choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        assert!(tool_call.choices[0].message.tool_calls.is_some());
        let answer = called("final_output");
        assert_eq!(answer.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            answer.choices[0].message.content.as_deref(),
            Some("{\"city\":\"Paris\"}")
        );
    }

    #[test]
    fn json_mode_uses_a_forced_tool() {
        let converted = to_request(
            &request(json!({
                "messages": [{"role": "user", "content": "A city as JSON"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}
            })),
            "m",
            false,
        )
        .unwrap();
        assert_eq!(converted.json_tool.as_deref(), Some("city"));
        assert_eq!(
            converted.body["tool_choice"],
            json!({"type": "tool", "name": "city"})
        );
        let response = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "city", "input": {"name": "Paris"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 3}
        });
        let completion = from_response(response.to_string().as_bytes(), Some("city"), 0).unwrap();
        assert_eq!(
            completion.choices[0].message.content.as_deref(),
            Some("{\"name\":\"Paris\"}")
        );
        assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(completion.choices[0].message.tool_calls.is_none());
    }
}
