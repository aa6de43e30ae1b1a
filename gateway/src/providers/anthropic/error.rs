//! Anthropic's error bodies and error types → upstream errors.

use axum::http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::error::UpstreamError;

pub(super) const PROVIDER: &str = "anthropic";

/// The status an error type of Anthropic's stream events stands for (the dialect's one table).
pub(super) fn status_for_error_type(kind: &str) -> StatusCode {
    crate::error::anthropic_status(kind)
}

pub(super) fn openai_error_type(kind: &str) -> &'static str {
    match kind {
        "authentication_error" | "permission_error" => "authentication_error",
        "rate_limit_error" => "rate_limit_error",
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            "invalid_request_error"
        }
        _ => "api_error",
    }
}

/// Anthropic's error body `{"type":"error","error":{"type","message"}}` → an upstream error.
pub(super) fn error_from_body(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/type"))
        .and_then(Value::as_str);
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("upstream answered {status} without an error body"));
    UpstreamError::Status {
        provider: PROVIDER,
        status,
        message,
        kind: kind.map(|k| openai_error_type(k).to_owned()),
        code: kind.map(str::to_owned),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_support::fixture;

    #[test]
    fn reads_documented_error_bodies() {
        for (name, status, code) in [
            ("error_authentication.json", 401, "authentication_error"),
            ("error_rate_limit.json", 429, "rate_limit_error"),
            ("error_overloaded.json", 529, "overloaded_error"),
            ("error_invalid_request.json", 400, "invalid_request_error"),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            let UpstreamError::Status {
                code: Some(found),
                message,
                ..
            } = error_from_body(status, None, fixture(name).as_bytes())
            else {
                panic!("{name}: expected a status error");
            };
            assert_eq!(found, code, "{name}");
            assert!(!message.is_empty());
        }
    }
}
