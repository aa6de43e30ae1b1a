//! The parameters of a chat request that converting providers translate, read and checked once.

use serde_json::{Map, Value};

use super::messages::{Message, ResponseFormat, Tool, ToolChoice};
use super::request::{ChatCompletionRequest, invalid};
use crate::error::RequestError;

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
