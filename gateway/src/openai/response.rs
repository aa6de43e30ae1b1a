//! Responses built by converting providers: a `chat.completion` and the chunks of its stream; and
//! a cached completion replayed as the chunks of a stream.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::messages::ToolCall;

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

impl Usage {
    /// Usage from a provider's own counts, which need not fit: each saturates at `u32::MAX`
    /// rather than wrapping (or panicking in a debug build).
    pub fn from_counts(prompt: u64, completion: u64) -> Self {
        let prompt = u32::try_from(prompt).unwrap_or(u32::MAX);
        let completion = u32::try_from(completion).unwrap_or(u32::MAX);
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

/// The parts of a `chat.completion` the gateway reads; the body itself is forwarded as received.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionSummary {
    pub model: String,
    #[serde(default)]
    pub usage: Option<Usage>,
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
