//! Gemini `GenerateContentResponse` and `batchEmbedContents` responses → OpenAI's.

use serde_json::{Value, json};

use crate::openai::{AssistantMessage, ChatCompletion, Choice, FunctionCall, ToolCall, Usage};

pub(super) fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

pub(super) fn usage_of(response: &Value) -> Option<Usage> {
    let metadata = response.get("usageMetadata")?;
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64).unwrap_or(0);
    // Thinking models bill their thoughts as output.
    let completion = count("candidatesTokenCount").saturating_add(count("thoughtsTokenCount"));
    Some(Usage::from_counts(count("promptTokenCount"), completion))
}

/// Text and function calls of one candidate. Call ids are numbered from `first_call`.
pub(super) fn candidate_content(candidate: &Value, first_call: usize) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(piece) = part.get("text").and_then(Value::as_str) {
            text.push_str(piece);
        }
        if let Some(call) = part.get("functionCall") {
            calls.push(ToolCall {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{}", first_call + calls.len())),
                kind: "function".into(),
                function: FunctionCall {
                    name: call
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: call
                        .get("args")
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                },
            });
        }
    }
    (text, calls)
}

/// Gemini `GenerateContentResponse` → OpenAI `chat.completion`.
pub(super) fn from_response(
    body: &[u8],
    model: &str,
    created: i64,
) -> Result<ChatCompletion, String> {
    let response: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let candidates = response
        .get("candidates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if candidates.is_empty() {
        let reason = response
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
            .unwrap_or("no candidates");
        return Err(format!("Gemini returned no answer ({reason})"));
    }
    let choices = candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let (text, calls) = candidate_content(candidate, 0);
            let mut finish = candidate
                .get("finishReason")
                .and_then(Value::as_str)
                .map(finish_reason)
                .unwrap_or("stop");
            if !calls.is_empty() && finish == "stop" {
                finish = "tool_calls";
            }
            Choice {
                index: index as u32,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: (!text.is_empty() || calls.is_empty()).then_some(text),
                    tool_calls: (!calls.is_empty()).then_some(calls),
                    refusal: None,
                },
                finish_reason: Some(finish.to_owned()),
                logprobs: None,
            }
        })
        .collect();
    Ok(ChatCompletion {
        id: format!(
            "chatcmpl-{}",
            response
                .get("responseId")
                .and_then(Value::as_str)
                .unwrap_or("gemini")
        ),
        object: "chat.completion".into(),
        created,
        model: response
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or(model)
            .to_owned(),
        choices,
        usage: usage_of(&response).unwrap_or_default(),
    })
}

/// Gemini `batchEmbedContents` response → OpenAI embeddings list.
pub(super) fn from_embeddings_response(body: &[u8], model: &str) -> Result<Value, String> {
    let response: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let embeddings = response
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or("no embeddings in the response")?;
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(index, embedding)| json!({"object": "embedding", "index": index, "embedding": embedding.get("values").cloned().unwrap_or(json!([]))}))
        .collect();
    Ok(
        json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::providers::gemini::test_support::fixture;

    /// Counts past `u32` (an upstream's to choose) saturate; they once overflowed, found by the
    /// chunk fuzz test.
    #[test]
    fn usage_counts_too_large_for_u32_saturate() {
        let usage = usage_of(&json!({"usageMetadata": {
            "promptTokenCount": 3_000_000_000u64,
            "candidatesTokenCount": 3_000_000_000u64,
            "thoughtsTokenCount": u64::MAX,
        }}))
        .unwrap();
        assert_eq!(usage.prompt_tokens, 3_000_000_000);
        assert_eq!(usage.completion_tokens, u32::MAX);
        assert_eq!(usage.total_tokens, u32::MAX);
    }

    #[test]
    fn converts_documented_responses() {
        let completion = from_response(
            fixture("generate_content.json").as_bytes(),
            "gemini-2.0-flash",
            1,
        )
        .unwrap();
        assert_eq!(
            completion.choices[0].message.content.as_deref(),
            Some("Hello from the fake Gemini server.")
        );
        assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            (
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens
            ),
            (17, 9)
        );

        let call = from_response(
            fixture("generate_content_function_call.json").as_bytes(),
            "m",
            1,
        )
        .unwrap();
        let tool_call = &call.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(tool_call.function.name, "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(&tool_call.function.arguments).unwrap(),
            json!({"city": "Paris"})
        );
        assert_eq!(call.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }
}
