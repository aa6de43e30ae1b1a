//! Gemini error bodies (`{"error": {...}}`, Google's `Status`) → upstream errors.

use axum::http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::error::UpstreamError;

pub(super) const PROVIDER: &str = "gemini";

pub(super) fn error_from_value(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    error: &Value,
) -> UpstreamError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_owned();
    let google_status = error
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let key_invalid = error
        .get("details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    // Google answers a bad key with 400; its meaning is a 401.
    let status = if key_invalid {
        StatusCode::UNAUTHORIZED
    } else {
        status
    };
    let kind = crate::error::default_kind(status);
    // Google puts the retry delay in the body (RetryInfo), not in a header.
    let retry_after = retry_after.or_else(|| {
        let delay = error
            .get("details")?
            .as_array()?
            .iter()
            .find_map(|d| d.get("retryDelay")?.as_str())?;
        let seconds = delay.trim_end_matches('s').parse::<f64>().ok()?;
        // Whole seconds, at most a day: never NaN, a negative or an astronomical wait.
        let seconds = Some(seconds.ceil()).filter(|s| (0.0..=86_400.0).contains(s))?;
        HeaderValue::from_str(&(seconds as u64).to_string()).ok()
    });
    UpstreamError::Status {
        provider: PROVIDER,
        status,
        message,
        kind: Some(kind.to_owned()),
        code: if key_invalid {
            Some("invalid_api_key".into())
        } else {
            google_status.map(|s| s.to_lowercase())
        },
        retry_after,
    }
}

pub(super) fn error_from_body(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    match serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
    {
        Some(error) => error_from_value(status, retry_after, &error),
        None => UpstreamError::Status {
            provider: PROVIDER,
            status,
            message: format!("upstream answered {status} without an error body"),
            kind: None,
            code: None,
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::providers::gemini::test_support::fixture;

    #[test]
    fn a_retry_delay_out_of_bounds_is_not_passed_on() {
        for (delay, expected) in [
            ("20s", Some("20")),
            ("1.2s", Some("2")),
            ("1e300s", None),
            ("-5s", None),
            ("NaNs", None),
        ] {
            let body = format!(
                r#"{{"error": {{"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED", "details": [{{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "{delay}"}}]}}}}"#
            );
            let UpstreamError::Status { retry_after, .. } =
                error_from_body(StatusCode::TOO_MANY_REQUESTS, None, body.as_bytes())
            else {
                panic!("a status error");
            };
            assert_eq!(
                retry_after.as_ref().map(|value| value.to_str().unwrap()),
                expected,
                "{delay}"
            );
        }
    }

    #[test]
    fn maps_documented_errors() {
        let UpstreamError::Status { status, code, .. } = error_from_body(
            StatusCode::BAD_REQUEST,
            None,
            fixture("error_invalid_api_key.json").as_bytes(),
        ) else {
            panic!()
        };
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("invalid_api_key"))
        );
        let UpstreamError::Status {
            status,
            retry_after,
            ..
        } = error_from_body(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            fixture("error_rate_limit.json").as_bytes(),
        )
        else {
            panic!()
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after.is_some(), "RetryInfo becomes Retry-After");
        let UpstreamError::Status { status, .. } = error_from_body(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            fixture("error_unavailable.json").as_bytes(),
        ) else {
            panic!()
        };
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
