//! Whose limit stopped a request, how it is told to the client, and the rate-limit headers.

use axum::http::{HeaderName, HeaderValue, StatusCode};

use super::settings::NANOS_PER_USD;
use crate::error::ApiError;

/// Whose limit it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Key(i32),
    Account(i32),
}

impl Scope {
    pub(super) fn id(self) -> String {
        match self {
            Self::Key(id) => format!("key:{id}"),
            Self::Account(id) => format!("account:{id}"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Key(_) => "this key",
            Self::Account(_) => "this organisation",
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Budget {
        scope: Scope,
        budget_nanos: i64,
        committed_nanos: i64,
        needed_nanos: i64,
        resets_at_ms: i64,
    },
    Requests {
        scope: Scope,
        limit: u32,
        resets_in_ms: i64,
    },
    Tokens {
        scope: Scope,
        limit: u32,
        used: u64,
        requested: u64,
        resets_in_ms: i64,
    },
}

/// The `x-ratelimit-*` headers OpenAI sends, for the narrowest scope that has rate limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateHeaders {
    pub requests: Option<(u32, u64, i64)>,
    pub tokens: Option<(u32, u64, i64)>,
}

impl RateHeaders {
    pub fn pairs(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut pairs = Vec::new();
        for (kind, window) in [("requests", self.requests), ("tokens", self.tokens)] {
            let Some((limit, remaining, reset_ms)) = window else {
                continue;
            };
            for (name, value) in [
                (format!("x-ratelimit-limit-{kind}"), limit.to_string()),
                (
                    format!("x-ratelimit-remaining-{kind}"),
                    remaining.to_string(),
                ),
                (
                    format!("x-ratelimit-reset-{kind}"),
                    openai_duration(reset_ms),
                ),
            ] {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name), HeaderValue::try_from(value))
                {
                    pairs.push((name, value));
                }
            }
        }
        pairs
    }

    pub fn apply(&self, headers: &mut axum::http::HeaderMap) {
        for (name, value) in self.pairs() {
            headers.insert(name, value);
        }
    }
}

/// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `7s`, `1m0s`.
pub fn openai_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = ms as f64 / 1000.0;
    if seconds < 60.0 {
        let text = format!("{seconds:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return format!("{text}s");
    }
    let whole = (ms + 999) / 1000;
    format!("{}m{}s", whole / 60, whole % 60)
}

fn usd(nanos: i64) -> String {
    format!("${:.4}", nanos as f64 / NANOS_PER_USD)
}

impl Refusal {
    pub fn into_api_error(self, headers: &RateHeaders) -> ApiError {
        let (code, message, retry_after_ms) = match &self {
            Refusal::Budget {
                scope,
                budget_nanos,
                committed_nanos,
                needed_nanos,
                resets_at_ms,
            } => (
                "budget_exceeded",
                format!(
                    "The monthly budget of {} for {} is reached: {} is spent or reserved by requests in flight, and this request may cost up to {}. The budget resets on {}. Raise it in the portal, or set max_tokens lower.",
                    usd(*budget_nanos),
                    scope.describe(),
                    usd(*committed_nanos),
                    usd(*needed_nanos),
                    crate::plans::format_utc(*resets_at_ms),
                ),
                (*resets_at_ms - crate::clock::now_ms()).max(0),
            ),
            Refusal::Requests {
                scope,
                limit,
                resets_in_ms,
            } => (
                "rate_limit_exceeded",
                format!(
                    "Rate limit reached for requests: {} allows {limit} requests per minute. Please try again in {}.",
                    scope.describe(),
                    openai_duration(*resets_in_ms)
                ),
                *resets_in_ms,
            ),
            Refusal::Tokens {
                scope,
                limit,
                used,
                requested,
                resets_in_ms,
            } => (
                "rate_limit_exceeded",
                format!(
                    "Rate limit reached for tokens: {} allows {limit} tokens per minute; used {used}, requested {requested}. Please try again in {}.",
                    scope.describe(),
                    openai_duration(*resets_in_ms)
                ),
                *resets_in_ms,
            ),
        };
        let kind = if code == "budget_exceeded" {
            "insufficient_quota"
        } else {
            "rate_limit_error"
        };
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, kind, Some(code), message);
        error.retry_after = HeaderValue::try_from(((retry_after_ms + 999) / 1000).to_string()).ok();
        error.headers = headers.pairs();
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_are_written_as_openai_writes_them() {
        assert_eq!(openai_duration(20), "20ms");
        assert_eq!(openai_duration(7000), "7s");
        assert_eq!(openai_duration(1500), "1.5s");
        assert_eq!(openai_duration(60_000), "1m0s");
        assert_eq!(openai_duration(-5), "0ms");
    }

    #[test]
    fn refusals_name_the_limit_and_when_it_resets() {
        let headers = RateHeaders {
            requests: Some((10, 0, 12_000)),
            tokens: None,
        };
        let error = Refusal::Requests {
            scope: Scope::Key(1),
            limit: 10,
            resets_in_ms: 12_000,
        }
        .into_api_error(&headers);
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.body.error.code.as_deref(),
            Some("rate_limit_exceeded")
        );
        assert!(error.body.error.message.contains("10 requests per minute"));
        assert_eq!(error.retry_after.unwrap(), "12");
        let names: Vec<_> = error.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests"
            ]
        );
        let error = Refusal::Budget {
            scope: Scope::Account(1),
            budget_nanos: 5_000_000_000,
            committed_nanos: 4_999_000_000,
            needed_nanos: 2_000_000,
            resets_at_ms: 1_800_000_000_000,
        }
        .into_api_error(&RateHeaders::default());
        assert_eq!(error.body.error.code.as_deref(), Some("budget_exceeded"));
        assert!(
            error.body.error.message.contains("$5.0000"),
            "{}",
            error.body.error.message
        );
        assert!(error.body.error.message.contains("this organisation"));
    }
}
