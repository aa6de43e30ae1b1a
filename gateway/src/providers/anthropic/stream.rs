//! Anthropic's streaming events → OpenAI chunks.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{PROVIDER, openai_error_type, status_for_error_type};
use super::response::{AnthropicUsage, finish_reason};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionChunk, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::providers::api::StreamItem;

/// Turns Anthropic's streaming events into OpenAI chunks, one event at a time.
pub(super) struct StreamConverter {
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
    pub(super) fn new(json_tool: Option<String>, created: i64) -> Self {
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
        self.usage.to_openai()
    }

    /// One server-sent event's `data:` payload → zero or more chunks. The payload names its own
    /// type (Anthropic repeats it as the `event:` name, which is not read).
    pub(super) fn on_event(&mut self, data: &[u8]) -> Result<Vec<StreamItem>, UpstreamError> {
        let invalid = |detail: String| UpstreamError::InvalidResponse {
            provider: PROVIDER,
            detail,
        };
        let value: Value =
            serde_json::from_slice(data).map_err(|e| invalid(format!("bad stream event: {e}")))?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
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
                    self.usage.output_tokens = output;
                }
                if let Some(input) = value.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    self.usage.input_tokens = input;
                }
                let mut finish = value
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                    .map(finish_reason)
                    .unwrap_or("stop");
                if self.json_tool.is_some() && finish == "tool_calls" && self.tool_blocks.is_empty()
                {
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

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    use super::super::test_support::fixture;

    /// Feeds a fixture's events through the converter.
    fn convert_stream(name: &str) -> Result<Vec<StreamItem>, UpstreamError> {
        let text = fixture(name);
        let mut converter = StreamConverter::new(None, 1);
        let mut items = Vec::new();
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let mut data = String::new();
            for line in block.lines() {
                if let Some(payload) = line.strip_prefix("data: ") {
                    data.push_str(payload);
                }
            }
            items.extend(converter.on_event(data.as_bytes())?);
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
}
