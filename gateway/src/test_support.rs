//! Helpers shared by the engine's unit tests.

use serde_json::Value;

use crate::openai::ChatCompletionRequest;

/// A fixture file of the fake providers (`testkit/fixtures/<provider>/<name>`).
pub fn fixture(provider: &str, name: &str) -> String {
    let path = format!(
        "{}/../testkit/fixtures/{provider}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A validated chat request from JSON.
pub fn request(value: Value) -> ChatCompletionRequest {
    ChatCompletionRequest::from_json_bytes(value.to_string().as_bytes()).expect("a valid request")
}

/// Strategies for the property tests: JSON shaped like what providers and clients send, with the
/// field names the parsers look for, so that generated values reach past the first check.
pub mod arbitrary {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Names the request parser and the converters read.
    const KEYS: &[&str] = &[
        "role",
        "content",
        "type",
        "text",
        "name",
        "tool_calls",
        "tool_call_id",
        "id",
        "function",
        "arguments",
        "image_url",
        "url",
        "detail",
        "input_audio",
        "refusal",
        "model",
        "messages",
        "stream",
        "tools",
        "tool_choice",
        "response_format",
        "json_schema",
        "schema",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "n",
        "index",
        "delta",
        "message",
        "usage",
        "input_tokens",
        "output_tokens",
        "stop_reason",
        "content_block",
        "partial_json",
        "candidates",
        "parts",
        "functionCall",
        "args",
        "finishReason",
        "usageMetadata",
        "promptTokenCount",
        "candidatesTokenCount",
        "error",
        "data",
        "object",
        "metadata",
        "status",
        "items",
        "price",
        "customer",
        "subscription",
    ];
    /// Values those names often hold.
    const WORDS: &[&str] = &[
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "function",
        "text",
        "image_url",
        "tool_use",
        "tool_result",
        "json_object",
        "json_schema",
        "auto",
        "none",
        "required",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "text_delta",
        "input_json_delta",
        "ping",
        "error",
        "end_turn",
        "max_tokens",
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "data:image/png;base64,AAAA",
        "https://example.com/a.png",
        "",
        "{",
        "{\"a\":1}",
        "ü\u{0}\u{1F600}",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(WORDS).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ]
    }

    /// Any JSON value up to a few levels deep.
    pub fn json() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            prop::sample::select(KEYS).prop_map(str::to_owned),
                            "[a-z]{1,6}"
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// A message as OpenAI's chat format has it, most of the time valid.
    pub fn message() -> impl Strategy<Value = Value> {
        let text_part =
            ".{0,16}".prop_map(|text| serde_json::json!({"type": "text", "text": text}));
        let image_part = Just(
            serde_json::json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}),
        );
        let content = prop_oneof![
            3 => ".{0,24}".prop_map(Value::String),
            1 => prop::collection::vec(prop_oneof![3 => text_part, 1 => image_part], 1..3).prop_map(Value::Array),
            1 => json(),
        ];
        let role = prop::sample::select(&["system", "developer", "user", "assistant", "tool"][..]);
        (role, content, prop::option::of(json())).prop_map(|(role, content, extra)| {
            let mut message = serde_json::json!({"role": role, "content": content});
            if role == "tool" {
                message["tool_call_id"] = "call_1".into();
            }
            if let Some(Value::Object(extra)) = extra {
                for (key, value) in extra {
                    if key != "role" && key != "content" {
                        message[key] = value;
                    }
                }
            }
            message
        })
    }

    /// A chat request body: messages, and some of the parameters.
    pub fn chat_request() -> impl Strategy<Value = Value> {
        (
            prop::collection::vec(message(), 1..5),
            prop::option::of(json()),
            any::<bool>(),
        )
            .prop_map(|(messages, params, stream)| {
                let mut body =
                    serde_json::json!({"model": "m", "messages": messages, "stream": stream});
                if let Some(Value::Object(params)) = params {
                    for (key, value) in params {
                        if key != "messages" {
                            body[key] = value;
                        }
                    }
                }
                body
            })
    }
}
