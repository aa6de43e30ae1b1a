//! Gemini's `streamGenerateContent?alt=sse` events → OpenAI chunks.

use axum::http::StatusCode;
use serde_json::Value;

use super::error::{PROVIDER, error_from_value};
use super::response::{candidate_content, finish_reason, usage_of};
use crate::error::UpstreamError;
use crate::openai::{ChatCompletionChunk, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::providers::api::StreamItem;

/// Turns Gemini's streamed responses into OpenAI chunks.
pub(super) struct StreamConverter {
    id: String,
    model: String,
    created: i64,
    started: bool,
    calls: usize,
    usage: Option<Usage>,
}

impl StreamConverter {
    pub(super) fn new(model: &str, created: i64) -> Self {
        Self {
            id: String::new(),
            model: model.to_owned(),
            created,
            started: false,
            calls: 0,
            usage: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<String>) -> StreamItem {
        StreamItem::chunk(&ChatCompletionChunk::new(
            &self.id,
            self.created,
            &self.model,
            delta,
            finish,
        ))
    }

    pub(super) fn on_data(&mut self, data: &[u8]) -> Result<Vec<StreamItem>, UpstreamError> {
        let response: Value =
            serde_json::from_slice(data).map_err(|e| UpstreamError::InvalidResponse {
                provider: PROVIDER,
                detail: format!("bad stream event: {e}"),
            })?;
        if let Some(error) = response.get("error") {
            return Err(error_from_value(StatusCode::BAD_GATEWAY, None, error));
        }
        let mut items = Vec::new();
        if !self.started {
            self.started = true;
            self.id = format!(
                "chatcmpl-{}",
                response
                    .get("responseId")
                    .and_then(Value::as_str)
                    .unwrap_or("gemini")
            );
            if let Some(version) = response.get("modelVersion").and_then(Value::as_str) {
                self.model = version.to_owned();
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
        if let Some(usage) = usage_of(&response) {
            self.usage = Some(usage);
        }
        let Some(candidate) = response.pointer("/candidates/0") else {
            return Ok(items);
        };
        let (text, calls) = candidate_content(candidate, self.calls);
        if !text.is_empty() {
            items.push(self.chunk(
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
                None,
            ));
        }
        if !calls.is_empty() {
            let deltas = calls
                .into_iter()
                .enumerate()
                .map(|(offset, call)| ToolCallDelta {
                    index: (self.calls + offset) as u32,
                    id: Some(call.id),
                    kind: Some("function".into()),
                    function: FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                    },
                })
                .collect::<Vec<_>>();
            self.calls += deltas.len();
            items.push(self.chunk(
                Delta {
                    tool_calls: Some(deltas),
                    ..Delta::default()
                },
                None,
            ));
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            let mut finish = finish_reason(reason);
            if self.calls > 0 && finish == "stop" {
                finish = "tool_calls";
            }
            items.push(self.chunk(Delta::default(), Some(finish.to_owned())));
        }
        Ok(items)
    }

    /// The usage-only last chunk, once the stream has ended.
    pub(super) fn finish(&self) -> Option<StreamItem> {
        let usage = self.usage?;
        Some(StreamItem::usage_only(&ChatCompletionChunk::usage_only(
            &self.id,
            self.created,
            &self.model,
            usage,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::providers::gemini::test_support::fixture;

    fn convert_stream(name: &str) -> Vec<StreamItem> {
        let mut converter = StreamConverter::new("gemini-2.0-flash", 1);
        let text = fixture(name);
        let mut items: Vec<StreamItem> = text
            .lines()
            .filter_map(|line| line.trim_end_matches('\r').strip_prefix("data: "))
            .flat_map(|data| converter.on_data(data.as_bytes()).unwrap())
            .collect();
        items.extend(converter.finish());
        items
    }

    #[test]
    fn converts_documented_streams() {
        let items = convert_stream("stream_generate_content.sse");
        let chunks: Vec<Value> = items
            .iter()
            .map(|i| serde_json::from_slice(&i.json).unwrap())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from the fake Gemini server.");
        let last = items.last().unwrap();
        assert!(last.usage_only);
        assert_eq!(last.usage.unwrap().prompt_tokens, 17);

        let calls = convert_stream("stream_function_call.sse");
        let chunks: Vec<Value> = calls
            .iter()
            .map(|i| serde_json::from_slice(&i.json).unwrap())
            .collect();
        let call = chunks
            .iter()
            .find_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .unwrap();
        assert_eq!(call[0]["function"]["name"], "get_weather");
        assert_eq!(call[0]["id"], "call_0");
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
        );
    }
}
