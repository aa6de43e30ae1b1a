//! Anthropic's dialect of errors: its error types, the status each comes with, and its error
//! body. The Messages route answers in it; Anthropic's stream events are read with it.

use axum::http::StatusCode;

/// Anthropic's error body for an HTTP status.
pub fn anthropic_error_body(status: u16, message: &str) -> serde_json::Value {
    serde_json::json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
}

/// Anthropic's error types and the HTTP status each comes with (its API reference, "Errors"):
/// one table, read both ways, for the Messages route's answers and for Anthropic's stream events.
const ANTHROPIC_ERROR_TYPES: [(u16, &str); 10] = [
    (400, "invalid_request_error"),
    (401, "authentication_error"),
    (402, "billing_error"),
    (403, "permission_error"),
    (404, "not_found_error"),
    (413, "request_too_large"),
    (429, "rate_limit_error"),
    (500, "api_error"),
    (504, "timeout_error"),
    (529, "overloaded_error"),
];

/// Anthropic's error type for an HTTP status.
pub fn anthropic_error_type(status: u16) -> &'static str {
    ANTHROPIC_ERROR_TYPES
        .iter()
        .find(|(code, _)| *code == status)
        .map_or(
            if (400..500).contains(&status) {
                "invalid_request_error"
            } else {
                "api_error"
            },
            |(_, kind)| *kind,
        )
}

/// The HTTP status of one of Anthropic's error types (500 for a type it may add later).
pub fn anthropic_status(kind: &str) -> StatusCode {
    ANTHROPIC_ERROR_TYPES
        .iter()
        .find(|(_, name)| *name == kind)
        .and_then(|(code, _)| StatusCode::from_u16(*code).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
