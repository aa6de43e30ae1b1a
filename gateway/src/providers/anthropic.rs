//! Anthropic's Messages API. Requests and responses are converted by pure functions, tested
//! against fixtures that follow Anthropic's API reference.
//!
//! What cannot be honoured is refused with a 400 naming the parameter: `n` > 1, `logprobs`,
//! non-zero `presence_penalty` / `frequency_penalty`, `temperature` above 1, audio and file parts,
//! `response_format` together with `tools`. `seed` is dropped (Anthropic has none). JSON mode is
//! served by a forced tool whose input is returned as the message content.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ChatOutcome, ChunkStream, StreamItem, UpstreamCall};
use crate::error::{RequestError, UpstreamError};
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatParams,
    Choice, Content, ContentPart, Delta, FunctionCall, FunctionCallDelta, Message, ResponseFormat,
    ToolCall, ToolCallDelta, ToolChoice, Usage,
};

const PROVIDER: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the request has none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A converted request, plus the name of the tool that carries JSON-mode output, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicRequest {
    pub body: Value,
    pub json_tool: Option<String>,
}

fn unsupported(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: format!("{reason} (not supported by Anthropic)"),
    }
}

/// OpenAI chat request → Anthropic Messages request.
pub fn to_request(
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

    let mut json_tool = None;
    match &params.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(format) => {
            if !params.tools.is_empty() {
                return Err(unsupported(
                    "response_format",
                    "JSON output together with tools",
                ));
            }
            let (name, schema) = match format {
                ResponseFormat::JsonSchema { name, schema, .. } => (name.clone(), schema.clone()),
                _ => ("json_response".to_owned(), json!({"type": "object"})),
            };
            body.insert(
                "tools".into(),
                json!([{"name": name, "description": "Respond with JSON matching this schema.", "input_schema": schema}]),
            );
            body.insert("tool_choice".into(), json!({"type": "tool", "name": name}));
            json_tool = Some(name);
        }
    }
    if !params.tools.is_empty() {
        let tools: Vec<Value> = params
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
        body.insert("tools".into(), Value::Array(tools));
        let mut choice = match &params.tool_choice {
            None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
            Some(ToolChoice::Required) => json!({"type": "any"}),
            Some(ToolChoice::None) => json!({"type": "none"}),
            Some(ToolChoice::Function(name)) => json!({"type": "tool", "name": name}),
        };
        if params.parallel_tool_calls == Some(false) && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice);
    }
    Ok(AnthropicRequest {
        body: Value::Object(body),
        json_tool,
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

#[derive(Deserialize)]
struct AnthropicResponse {
    id: String,
    model: String,
    content: Vec<Value>,
    stop_reason: Option<String>,
    usage: AnthropicUsage,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
}

impl AnthropicUsage {
    fn prompt_tokens(&self) -> u32 {
        self.input_tokens
            + self.cache_creation_input_tokens.unwrap_or(0)
            + self.cache_read_input_tokens.unwrap_or(0)
    }
}

pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Anthropic Messages response → OpenAI `chat.completion`.
pub fn from_response(
    body: &[u8],
    json_tool: Option<&str>,
    created: i64,
) -> Result<ChatCompletion, String> {
    let response: AnthropicResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &response.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => {
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let input = block.get("input").cloned().unwrap_or(Value::Null);
                if json_tool == Some(name) {
                    text.push_str(&input.to_string());
                } else {
                    tool_calls.push(ToolCall {
                        id: block
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: name.to_owned(),
                            arguments: input.to_string(),
                        },
                    });
                }
            }
            _ => {}
        }
    }
    let mut finish = response
        .stop_reason
        .as_deref()
        .map(finish_reason)
        .unwrap_or("stop");
    if json_tool.is_some() && finish == "tool_calls" {
        finish = "stop";
    }
    let prompt_tokens = response.usage.prompt_tokens();
    Ok(ChatCompletion {
        id: response.id,
        object: "chat.completion".into(),
        created,
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: Some(finish.to_owned()),
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens,
            completion_tokens: response.usage.output_tokens,
            total_tokens: prompt_tokens + response.usage.output_tokens,
        },
    })
}

/// Turns Anthropic's streaming events into OpenAI chunks, one event at a time.
pub struct StreamConverter {
    json_tool: Option<String>,
    created: i64,
    id: String,
    model: String,
    usage: AnthropicUsage,
    /// Content block index → tool call index, for tool-use blocks.
    tool_blocks: HashMap<u64, u32>,
    /// The block carrying JSON-mode output, whose input is streamed as content.
    json_block: Option<u64>,
}

impl StreamConverter {
    pub fn new(json_tool: Option<String>, created: i64) -> Self {
        Self {
            json_tool,
            created,
            id: String::new(),
            model: String::new(),
            usage: AnthropicUsage::default(),
            tool_blocks: HashMap::new(),
            json_block: None,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> StreamItem {
        StreamItem::chunk(&ChatCompletionChunk::new(
            &self.id,
            self.created,
            &self.model,
            delta,
            finish_reason,
        ))
    }

    fn usage(&self) -> Usage {
        let prompt = self.usage.prompt_tokens();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.usage.output_tokens,
            total_tokens: prompt + self.usage.output_tokens,
        }
    }

    /// One server-sent event (`event:` name and `data:` payload) → zero or more chunks.
    pub fn on_event(&mut self, event: &str, data: &str) -> Result<Vec<StreamItem>, UpstreamError> {
        let invalid = |detail: String| UpstreamError::InvalidResponse {
            provider: PROVIDER,
            detail,
        };
        let value: Value =
            serde_json::from_str(data).map_err(|e| invalid(format!("bad {event} event: {e}")))?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(event);
        let mut items = Vec::new();
        match kind {
            "message_start" => {
                let message = &value["message"];
                self.id = message["id"].as_str().unwrap_or_default().to_owned();
                self.model = message["model"].as_str().unwrap_or_default().to_owned();
                if let Ok(usage) =
                    serde_json::from_value::<AnthropicUsage>(message["usage"].clone())
                {
                    self.usage = usage;
                }
                items.push(self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            "content_block_start" => {
                let index = value["index"].as_u64().unwrap_or_default();
                let block = &value["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let name = block["name"].as_str().unwrap_or_default();
                        if self.json_tool.as_deref() == Some(name) {
                            self.json_block = Some(index);
                        } else {
                            let tool_index = self.tool_blocks.len() as u32;
                            self.tool_blocks.insert(index, tool_index);
                            items.push(self.chunk(
                                Delta {
                                    tool_calls: Some(vec![ToolCallDelta {
                                        index: tool_index,
                                        id: block["id"].as_str().map(str::to_owned),
                                        kind: Some("function".into()),
                                        function: FunctionCallDelta {
                                            name: Some(name.to_owned()),
                                            arguments: Some(String::new()),
                                        },
                                    }]),
                                    ..Delta::default()
                                },
                                None,
                            ));
                        }
                    }
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or_default();
                        if !text.is_empty() {
                            items.push(self.chunk(
                                Delta {
                                    content: Some(text.to_owned()),
                                    ..Delta::default()
                                },
                                None,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = value["index"].as_u64().unwrap_or_default();
                let delta = &value["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or_default().to_owned();
                        items.push(self.chunk(
                            Delta {
                                content: Some(text),
                                ..Delta::default()
                            },
                            None,
                        ));
                    }
                    Some("input_json_delta") => {
                        let fragment = delta["partial_json"].as_str().unwrap_or_default();
                        if fragment.is_empty() {
                            return Ok(items);
                        }
                        if self.json_block == Some(index) {
                            items.push(self.chunk(
                                Delta {
                                    content: Some(fragment.to_owned()),
                                    ..Delta::default()
                                },
                                None,
                            ));
                        } else if let Some(&tool_index) = self.tool_blocks.get(&index) {
                            items.push(self.chunk(
                                Delta {
                                    tool_calls: Some(vec![ToolCallDelta {
                                        index: tool_index,
                                        id: None,
                                        kind: None,
                                        function: FunctionCallDelta {
                                            name: None,
                                            arguments: Some(fragment.to_owned()),
                                        },
                                    }]),
                                    ..Delta::default()
                                },
                                None,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(output) = value
                    .pointer("/usage/output_tokens")
                    .and_then(Value::as_u64)
                {
                    self.usage.output_tokens = output as u32;
                }
                if let Some(input) = value.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    self.usage.input_tokens = input as u32;
                }
                let mut finish = value
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                    .map(finish_reason)
                    .unwrap_or("stop");
                if self.json_tool.is_some() && finish == "tool_calls" {
                    finish = "stop";
                }
                let mut item = self.chunk(Delta::default(), Some(finish.to_owned()));
                item.usage = Some(self.usage());
                items.push(item);
            }
            "message_stop" => {
                let usage = self.usage();
                items.push(StreamItem::usage_only(&ChatCompletionChunk::usage_only(
                    &self.id,
                    self.created,
                    &self.model,
                    usage,
                )));
            }
            "error" => {
                let kind = value
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                let message = value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error")
                    .to_owned();
                return Err(UpstreamError::Status {
                    provider: PROVIDER,
                    status: status_for_error_type(kind),
                    message,
                    kind: Some(openai_error_type(kind).to_owned()),
                    code: Some(kind.to_owned()),
                    retry_after: None,
                });
            }
            _ => {} // ping, content_block_stop, and event types added later
        }
        Ok(items)
    }
}

fn status_for_error_type(kind: &str) -> StatusCode {
    match kind {
        "invalid_request_error" => StatusCode::BAD_REQUEST,
        "authentication_error" => StatusCode::UNAUTHORIZED,
        "permission_error" => StatusCode::FORBIDDEN,
        "not_found_error" => StatusCode::NOT_FOUND,
        "request_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate_limit_error" => StatusCode::TOO_MANY_REQUESTS,
        "overloaded_error" => StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn openai_error_type(kind: &str) -> &'static str {
    match kind {
        "authentication_error" | "permission_error" => "authentication_error",
        "rate_limit_error" => "rate_limit_error",
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            "invalid_request_error"
        }
        _ => "api_error",
    }
}

/// Anthropic's error body `{"type":"error","error":{"type","message"}}` → an upstream error.
pub fn error_from_body(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/type"))
        .and_then(Value::as_str);
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("upstream answered {status} without an error body"));
    UpstreamError::Status {
        provider: PROVIDER,
        status,
        message,
        kind: kind.map(|k| openai_error_type(k).to_owned()),
        code: kind.map(str::to_owned),
        retry_after,
    }
}

pub struct Anthropic;

impl Anthropic {
    async fn send(
        &self,
        call: &UpstreamCall<'_>,
        body: &Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = format!(
            "{}/v1/messages",
            call.endpoint.base_url.trim_end_matches('/')
        );
        let request = call
            .http
            .post(url)
            .header("x-api-key", call.endpoint.api_key.expose())
            .header("anthropic-version", API_VERSION)
            .json(body);
        super::send(PROVIDER, call.timeout, request, error_from_body).await
    }
}

impl super::ProviderApi for Anthropic {
    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let converted = to_request(request, model, false).map_err(UpstreamError::Request)?;
        let response = self.send(call, &converted.body).await?;
        let body = super::read_body(PROVIDER, call.timeout, response).await?;
        let completion = from_response(
            &body,
            converted.json_tool.as_deref(),
            crate::clock::now_ms() / 1000,
        )
        .map_err(|detail| UpstreamError::InvalidResponse {
            provider: PROVIDER,
            detail,
        })?;
        ChatOutcome::from_completion(&completion)
    }

    async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        let converted = to_request(request, model, true).map_err(UpstreamError::Request)?;
        let response = self.send(call, &converted.body).await?;
        let mut converter =
            StreamConverter::new(converted.json_tool, crate::clock::now_ms() / 1000);
        let stream = super::convert_events(PROVIDER, response, move |event| {
            converter.on_event(&event.event, &event.data)
        });
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::request;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("anthropic", name)
    }

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

    #[test]
    fn converts_the_documented_response() {
        let completion = from_response(fixture("message.json").as_bytes(), None, 1).unwrap();
        assert_eq!(
            completion.choices[0].message.content.as_deref(),
            Some("Hello from the fake Anthropic server.")
        );
        assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            (
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens
            ),
            (21, 11)
        );

        let tools = from_response(fixture("message_tool_use.json").as_bytes(), None, 1).unwrap();
        let message = &tools.choices[0].message;
        assert_eq!(message.content.as_deref(), Some("Let me check."));
        let call = &message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.id.as_str(), call.function.name.as_str()),
            ("toolu_fake01", "get_weather")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
            json!({"city": "Paris"})
        );
        assert_eq!(
            tools.choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
    }

    /// Feeds a fixture's events through the converter.
    fn convert_stream(name: &str) -> Result<Vec<StreamItem>, UpstreamError> {
        let text = fixture(name);
        let mut converter = StreamConverter::new(None, 1);
        let mut items = Vec::new();
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let mut event = "";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = name;
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data.push_str(payload);
                }
            }
            items.extend(converter.on_event(event, &data)?);
        }
        Ok(items)
    }

    fn chunks(items: &[StreamItem]) -> Vec<Value> {
        items
            .iter()
            .map(|item| serde_json::from_slice(&item.json).unwrap())
            .collect()
    }

    #[test]
    fn converts_the_documented_text_stream() {
        let items = convert_stream("message_stream.sse").unwrap();
        let chunks = chunks(&items);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from the fake Anthropic server.");
        let finish: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, vec!["stop"]);
        let last = items.last().unwrap();
        assert!(last.usage_only);
        assert_eq!(
            last.usage,
            Some(Usage {
                prompt_tokens: 21,
                completion_tokens: 11,
                total_tokens: 32
            })
        );
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
        );
    }

    #[test]
    fn converts_the_documented_tool_stream() {
        let chunks = chunks(&convert_stream("message_tool_use_stream.sse").unwrap());
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(calls[0][0]["id"], "toolu_fake01");
        assert_eq!(calls[0][0]["function"]["name"], "get_weather");
        let arguments: String = calls
            .iter()
            .filter_map(|c| c[0]["function"]["arguments"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).unwrap(),
            json!({"city": "Paris"})
        );
        assert!(calls.iter().all(|c| c[0]["index"] == 0));
        let finish: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, vec!["tool_calls"]);
    }

    #[test]
    fn a_stream_error_event_is_an_error() {
        let err = convert_stream("stream_error.sse").unwrap_err();
        assert!(matches!(err, UpstreamError::Status { status, .. } if status.as_u16() == 529));
    }

    #[test]
    fn reads_documented_error_bodies() {
        for (name, status, code) in [
            ("error_authentication.json", 401, "authentication_error"),
            ("error_rate_limit.json", 429, "rate_limit_error"),
            ("error_overloaded.json", 529, "overloaded_error"),
            ("error_invalid_request.json", 400, "invalid_request_error"),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            let UpstreamError::Status {
                code: Some(found),
                message,
                ..
            } = error_from_body(status, None, fixture(name).as_bytes())
            else {
                panic!("{name}: expected a status error");
            };
            assert_eq!(found, code, "{name}");
            assert!(!message.is_empty());
        }
    }
}
