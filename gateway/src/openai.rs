//! OpenAI's wire format for chat completions, as far as the gateway needs to read it. Fields the
//! gateway does not interpret are kept verbatim in `extra` and forwarded.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::RequestError;

/// Roles OpenAI's chat API accepts.
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatCompletionRequest {
    /// `None` or `"auto"` lets the gateway choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletionRequest {
    /// Parses and validates a request body, naming the offending parameter on failure.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, RequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(RequestError::InvalidJson(
                "the body must be a JSON object".into(),
            ));
        };
        let Some(messages) = object.get("messages") else {
            return Err(RequestError::MissingField("messages".into()));
        };
        let Value::Array(messages) = messages else {
            return Err(invalid("messages", "expected an array of message objects"));
        };
        if messages.is_empty() {
            return Err(invalid("messages", "expected at least one message"));
        }
        for (index, message) in messages.iter().enumerate() {
            let param = format!("messages[{index}]");
            let Some(message) = message.as_object() else {
                return Err(invalid(&param, "expected a message object"));
            };
            let Some(role) = message.get("role") else {
                return Err(RequestError::MissingField(format!("{param}.role")));
            };
            if !role.as_str().is_some_and(|role| ROLES.contains(&role)) {
                return Err(invalid(
                    &format!("{param}.role"),
                    &format!("expected one of {}", ROLES.join(", ")),
                ));
            }
        }
        match object.get("model") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(invalid("model", "expected a string")),
        }
        match object.get("stream") {
            None | Some(Value::Null) | Some(Value::Bool(_)) => {}
            Some(_) => return Err(invalid("stream", "expected a boolean")),
        }
        serde_json::from_value(Value::Object(object))
            .map_err(|e| RequestError::InvalidJson(e.to_string()))
    }
}

fn invalid(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Token counts as OpenAI reports them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    #[serde(default)]
    pub total_tokens: u32,
}

/// The parts of a `chat.completion` the gateway reads; the body itself is forwarded as received.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionSummary {
    pub model: String,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ChatCompletionRequest, RequestError> {
        ChatCompletionRequest::from_json_bytes(value.to_string().as_bytes())
    }

    #[test]
    fn keeps_unknown_fields_for_forwarding() {
        let request = parse(json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "seed": 7
        }))
        .unwrap();
        assert_eq!(request.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(request.extra["temperature"], json!(0.2));
        let round_trip = serde_json::to_value(&request).unwrap();
        assert_eq!(round_trip["seed"], json!(7));
        assert!(round_trip.get("stream").is_none());
    }

    #[test]
    fn names_the_bad_parameter() {
        assert_eq!(
            parse(json!({"model": "x"})),
            Err(RequestError::MissingField("messages".into()))
        );
        assert!(matches!(
            parse(json!({"messages": []})),
            Err(RequestError::InvalidField { param, .. }) if param == "messages"
        ));
        assert!(matches!(
            parse(json!({"messages": [{"content": "hi"}]})),
            Err(RequestError::MissingField(param)) if param == "messages[0].role"
        ));
        assert!(matches!(
            parse(json!({"messages": [{"role": "wizard", "content": "hi"}]})),
            Err(RequestError::InvalidField { param, .. }) if param == "messages[0].role"
        ));
        assert!(matches!(
            parse(json!({"model": 3, "messages": [{"role": "user", "content": "hi"}]})),
            Err(RequestError::InvalidField { param, .. }) if param == "model"
        ));
        assert!(matches!(
            ChatCompletionRequest::from_json_bytes(b"{not json"),
            Err(RequestError::InvalidJson(_))
        ));
        assert!(matches!(
            ChatCompletionRequest::from_json_bytes(b"[1]"),
            Err(RequestError::InvalidJson(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Typed views of a chat request, for providers whose API differs from OpenAI's. OpenAI-compatible
// providers never need them: their requests are forwarded as received.

/// One message of the conversation, by role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
    /// The deprecated predecessor of `tool`.
    Function {
        #[serde(default)]
        content: Option<String>,
        name: String,
    },
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of all text parts, joined; images and other parts are left out.
    pub fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    InputAudio { input_audio: Value },
    File { file: Value },
    Refusal { refusal: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An image given as a `data:` URL, split into its media type and base64 payload.
pub struct InlineImage<'a> {
    pub media_type: &'a str,
    pub base64: &'a str,
}

impl ImageUrl {
    pub fn inline(&self) -> Option<InlineImage<'_>> {
        let rest = self.url.strip_prefix("data:")?;
        let (media_type, payload) = rest.split_once(',')?;
        let media_type = media_type.strip_suffix(";base64")?;
        Some(InlineImage {
            media_type,
            base64: payload,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

impl ToolCall {
    /// The arguments as JSON, for providers that take them structured. `message` is the index of
    /// the assistant message, for the error.
    pub fn parsed_arguments(&self, message: usize) -> Result<Value, RequestError> {
        serde_json::from_str(&self.function.arguments).map_err(|_| RequestError::InvalidField {
            param: format!("messages[{message}].tool_calls"),
            reason: "function arguments must be JSON".into(),
        })
    }
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: bool,
    },
}

/// The parameters of a chat request that converting providers translate, read from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatParams {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// `max_completion_tokens`, or the older `max_tokens`.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub n: Option<u32>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub user: Option<String>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub include_usage: bool,
    pub logprobs: bool,
}

impl ChatCompletionRequest {
    pub fn wants_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for a usage chunk at the end of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.extra
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The messages, typed. Fails with the index of the first message that does not fit.
    pub fn typed_messages(&self) -> Result<Vec<Message>, RequestError> {
        self.messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                serde_json::from_value(message.clone())
                    .map_err(|e| invalid(&format!("messages[{index}]"), &e.to_string()))
            })
            .collect()
    }

    /// The parameters converting providers translate, checked for type.
    pub fn params(&self) -> Result<ChatParams, RequestError> {
        let extra = &self.extra;
        let number = |name: &str| -> Result<Option<f64>, RequestError> {
            match extra.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| invalid(name, "expected a number")),
            }
        };
        let whole = |name: &str| -> Result<Option<u64>, RequestError> {
            match extra.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| invalid(name, "expected a non-negative integer")),
            }
        };
        let max_tokens = match whole("max_completion_tokens")? {
            Some(tokens) => Some(tokens),
            None => whole("max_tokens")?,
        };
        let stop = match extra.get("stop") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid("stop", "expected strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("stop", "expected a string or an array of strings")),
        };
        let tools = match extra.get("tools") {
            None | Some(Value::Null) => Vec::new(),
            Some(tools) => serde_json::from_value(tools.clone())
                .map_err(|e| invalid("tools", &e.to_string()))?,
        };
        let tool_choice = match extra.get("tool_choice") {
            None | Some(Value::Null) => None,
            Some(Value::String(choice)) => Some(match choice.as_str() {
                "none" => ToolChoice::None,
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                _ => {
                    return Err(invalid(
                        "tool_choice",
                        "expected none, auto, required or a function",
                    ));
                }
            }),
            Some(choice) => {
                let name = choice.pointer("/function/name").and_then(Value::as_str);
                Some(ToolChoice::Function(
                    name.ok_or_else(|| {
                        invalid(
                            "tool_choice",
                            "expected {\"type\": \"function\", \"function\": {\"name\": …}}",
                        )
                    })?
                    .to_owned(),
                ))
            }
        };
        let response_format = match extra.get("response_format") {
            None | Some(Value::Null) => None,
            Some(format) => Some(match format.get("type").and_then(Value::as_str) {
                Some("text") => ResponseFormat::Text,
                Some("json_object") => ResponseFormat::JsonObject,
                Some("json_schema") => {
                    let spec = format.get("json_schema").ok_or_else(|| {
                        RequestError::MissingField("response_format.json_schema".into())
                    })?;
                    ResponseFormat::JsonSchema {
                        name: spec
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("response")
                            .to_owned(),
                        schema: spec
                            .get("schema")
                            .cloned()
                            .unwrap_or(Value::Object(Map::new())),
                        strict: spec.get("strict").and_then(Value::as_bool).unwrap_or(false),
                    }
                }
                _ => {
                    return Err(invalid(
                        "response_format.type",
                        "expected text, json_object or json_schema",
                    ));
                }
            }),
        };
        let boolean = |name: &str| -> Result<Option<bool>, RequestError> {
            match extra.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_bool()
                    .map(Some)
                    .ok_or_else(|| invalid(name, "expected a boolean")),
            }
        };
        Ok(ChatParams {
            temperature: number("temperature")?,
            top_p: number("top_p")?,
            max_tokens: max_tokens.map(|t| t.min(u64::from(u32::MAX)) as u32),
            stop,
            n: whole("n")?.map(|n| n.min(128) as u32),
            seed: match extra.get("seed") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_i64()
                        .ok_or_else(|| invalid("seed", "expected an integer"))?,
                ),
            },
            presence_penalty: number("presence_penalty")?,
            frequency_penalty: number("frequency_penalty")?,
            user: extra.get("user").and_then(Value::as_str).map(str::to_owned),
            tools,
            tool_choice,
            parallel_tool_calls: boolean("parallel_tool_calls")?,
            response_format,
            include_usage: self.wants_stream_usage(),
            logprobs: boolean("logprobs")?.unwrap_or(false),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Responses built by converting providers.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<String>,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: String,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub function: FunctionCallDelta,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl ChatCompletionChunk {
    pub fn new(
        id: &str,
        created: i64,
        model: &str,
        delta: Delta,
        finish_reason: Option<String>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_owned(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: None,
        }
    }

    /// The last chunk of a stream whose client asked for usage: no choices, only usage.
    pub fn usage_only(id: &str, created: i64, model: &str, usage: Usage) -> Self {
        Self {
            id: id.to_owned(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: Some(usage),
        }
    }
}

/// A `POST /v1/embeddings` request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    /// Token arrays: OpenAI-compatible providers only.
    Tokens(Value),
}

/// A complete chat completion (JSON text) as the chunks a stream of it would have carried: per
/// choice one delta with the whole message and one with its finish reason, then the usage chunk
/// when asked. For answers served from the cache to `stream: true` requests.
pub fn completion_as_chunks(completion: &str, include_usage: bool) -> Vec<Value> {
    let Ok(completion) = serde_json::from_str::<Value>(completion) else {
        return Vec::new();
    };
    let chunk = |choices: Value| {
        serde_json::json!({
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "system_fingerprint": completion.get("system_fingerprint").cloned().unwrap_or(Value::Null),
            "choices": choices,
        })
    };
    let mut chunks = Vec::new();
    for (position, choice) in completion["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let index = choice
            .get("index")
            .cloned()
            .unwrap_or_else(|| Value::from(position));
        let message = &choice["message"];
        let mut delta = serde_json::json!({"role": message.get("role").cloned().unwrap_or_else(|| "assistant".into())});
        if let Some(content) = message.get("content").filter(|c| !c.is_null()) {
            delta["content"] = content.clone();
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let mut call = call.clone();
                    call["index"] = Value::from(i);
                    call
                })
                .collect();
            delta["tool_calls"] = Value::Array(indexed);
        }
        chunks.push(chunk(serde_json::json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": null}])));
        chunks.push(chunk(serde_json::json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": choice["finish_reason"]}])));
    }
    if include_usage {
        let mut usage = chunk(serde_json::json!([]));
        usage["usage"] = completion["usage"].clone();
        chunks.push(usage);
    }
    chunks
}

#[cfg(test)]
mod completion_as_chunks_tests {
    use super::*;

    #[test]
    fn a_completion_becomes_the_chunks_of_its_stream() {
        let completion = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        });
        let chunks = completion_as_chunks(&completion.to_string(), true);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0]["object"], "chat.completion.chunk");
        assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "Hello");
        assert_eq!(
            chunks[0]["choices"][0]["delta"]["tool_calls"][0]["index"],
            0
        );
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[2]["usage"]["total_tokens"], 5);
        assert_eq!(chunks[2]["choices"], serde_json::json!([]));
        assert_eq!(
            completion_as_chunks(&completion.to_string(), false).len(),
            2
        );
        // Every chunk parses as the typed chunk the gateway itself sends.
        for chunk in &chunks {
            serde_json::from_value::<ChatCompletionChunk>(chunk.clone()).unwrap();
        }
    }
}
