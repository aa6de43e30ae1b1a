//! Property tests: any request, response or stream event the Anthropic converters may meet is
//! converted or refused with an error, never a panic; and converting keeps the user's text.

use proptest::prelude::*;
use serde_json::Value;

use super::request::to_request;
use super::response::from_response;
use super::stream::StreamConverter;
use crate::openai::ChatCompletionRequest;
use crate::test_support::arbitrary;

const EVENTS: &[&str] = &[
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "unknown",
];

/// The user's plain texts, as they appear inside a JSON string.
fn user_texts(request: &ChatCompletionRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|message| message["role"] == "user")
        .filter_map(|message| message["content"].as_str())
        .filter(|text| !text.trim().is_empty())
        .map(|text| {
            let quoted = serde_json::to_string(text).unwrap();
            quoted[1..quoted.len() - 1].to_owned()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_converted_or_refused_and_keeps_the_users_text(
        body in arbitrary::chat_request(),
        stream in any::<bool>(),
    ) {
        let Ok(request) = ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()) else {
            return Ok(());
        };
        if let Ok(converted) = to_request(&request, "claude-3-5-haiku-latest", stream) {
            let sent = converted.body.to_string();
            for text in user_texts(&request) {
                prop_assert!(sent.contains(&text), "{text:?} lost in {sent}");
            }
        }
    }

    #[test]
    fn any_response_body_is_read_or_refused(body in arbitrary::json(), tool in prop::option::of("[a-z]{1,8}")) {
        let _ = from_response(body.to_string().as_bytes(), tool.as_deref(), 0);
    }

    #[test]
    fn any_bytes_as_a_response_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_response(&bytes, None, 0);
    }

    #[test]
    fn any_event_sequence_is_converted_or_refused(
        events in prop::collection::vec((prop::sample::select(EVENTS), arbitrary::json()), 0..16),
        raw in ".{0,64}",
    ) {
        let mut converter = StreamConverter::new(Some("json_output".into()), 0);
        for (event, data) in &events {
            let data = match data {
                Value::Object(_) => data.to_string(),
                other => serde_json::json!({"type": event, "delta": other, "index": 0}).to_string(),
            };
            let _ = converter.on_event(data.as_bytes());
        }
        let _ = converter.on_event(raw.as_bytes());
    }
}
