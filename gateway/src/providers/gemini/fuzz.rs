//! Property tests: any request, response or stream chunk the Gemini converters may meet is
//! converted or refused with an error, never a panic; and converting keeps the user's text.

use proptest::prelude::*;

use super::request::to_request;
use super::response::from_response;
use super::stream::StreamConverter;
use crate::openai::ChatCompletionRequest;
use crate::test_support::arbitrary;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_converted_or_refused_and_keeps_the_users_text(body in arbitrary::chat_request()) {
        let Ok(request) = ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()) else {
            return Ok(());
        };
        if let Ok(converted) = to_request(&request) {
            let sent = converted.to_string();
            for message in request.messages.iter().filter(|m| m["role"] == "user") {
                let Some(text) = message["content"].as_str().filter(|t| !t.trim().is_empty()) else {
                    continue;
                };
                let quoted = serde_json::to_string(text).unwrap();
                let inner = &quoted[1..quoted.len() - 1];
                prop_assert!(sent.contains(inner), "{text:?} lost in {sent}");
            }
        }
    }

    #[test]
    fn any_response_body_is_read_or_refused(body in arbitrary::json()) {
        let _ = from_response(body.to_string().as_bytes(), "gemini-2.0-flash", 0);
    }

    #[test]
    fn any_bytes_as_a_response_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_response(&bytes, "gemini-2.0-flash", 0);
    }

    #[test]
    fn any_chunk_sequence_is_converted_or_refused(
        chunks in prop::collection::vec(arbitrary::json(), 0..12),
        raw in ".{0,64}",
    ) {
        let mut converter = StreamConverter::new("gemini-2.0-flash", 0);
        for chunk in &chunks {
            let wrapped = serde_json::json!({"candidates": [{"content": {"parts": [chunk]}, "finishReason": chunk}], "usageMetadata": chunk});
            let _ = converter.on_data(chunk.to_string().as_bytes());
            let _ = converter.on_data(wrapped.to_string().as_bytes());
        }
        let _ = converter.on_data(raw.as_bytes());
        let _ = converter.finish();
    }
}
