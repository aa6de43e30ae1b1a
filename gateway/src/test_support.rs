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
