//! Anthropic Messages response → OpenAI `chat.completion`.

use serde::Deserialize;
use serde_json::Value;

use crate::openai::{AssistantMessage, ChatCompletion, Choice, FunctionCall, ToolCall, Usage};

#[derive(Deserialize)]
struct AnthropicResponse {
    id: String,
    model: String,
    content: Vec<Value>,
    stop_reason: Option<String>,
    usage: AnthropicUsage,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct AnthropicUsage {
    #[serde(default)]
    pub(super) input_tokens: u64,
    #[serde(default)]
    pub(super) output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// OpenAI's usage: Anthropic counts cached input apart from `input_tokens`.
    pub(super) fn to_openai(self) -> Usage {
        let prompt = self
            .input_tokens
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(self.cache_read_input_tokens.unwrap_or(0));
        Usage::from_counts(prompt, self.output_tokens)
    }
}

pub(super) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Anthropic Messages response → OpenAI `chat.completion`.
pub(super) fn from_response(
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
    // The answer tool is the answer: only the client's own tools make this a tool call.
    if json_tool.is_some() && finish == "tool_calls" && tool_calls.is_empty() {
        finish = "stop";
    }
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
        usage: response.usage.to_openai(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    use super::super::test_support::fixture;

    #[test]
    fn usage_counts_cached_input_and_saturates() {
        let usage: AnthropicUsage = serde_json::from_value(json!({
            "input_tokens": 10, "output_tokens": 5,
            "cache_creation_input_tokens": 20, "cache_read_input_tokens": 30,
        }))
        .unwrap();
        let usage = usage.to_openai();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (60, 5, 65)
        );
        let huge: AnthropicUsage = serde_json::from_value(json!({
            "input_tokens": 4_000_000_000u64, "output_tokens": 4_000_000_000u64,
            "cache_read_input_tokens": u64::MAX,
        }))
        .unwrap();
        let usage = huge.to_openai();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (u32::MAX, 4_000_000_000, u32::MAX)
        );
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
}
