//! Stage 5: the response cache. Off unless the plan includes it and the request (header
//! `x-gateway-cache: on|off`) or the key's or account's policy turns it on.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tracing::Instrument as _;

use super::caller::Caller;
use super::respond::{self, AnswerShape};
use super::usage::UsageContext;
use crate::cache::CachedAnswer;
use crate::error::ApiError;
use crate::openai::ChatCompletionRequest;
use crate::providers::ChatOutcome;
use crate::routing::{RouteDecision, RoutingPolicy};
use crate::state::GatewayState;

const CACHE_HEADER: &str = "x-gateway-cache";

/// What the cache said about this request.
pub(super) enum CacheLookup {
    /// The cache is off for this request.
    Off,
    /// Not in the cache: the answer may be stored under this key.
    Miss(String),
    Hit(CachedAnswer),
}

impl CacheLookup {
    pub(super) async fn open(
        state: &GatewayState,
        headers: &HeaderMap,
        caller: &Caller,
        primary: &RouteDecision<'_>,
        request: &ChatCompletionRequest,
    ) -> Result<Self, ApiError> {
        if !wanted(state, headers, caller)? {
            return Ok(CacheLookup::Off);
        }
        let key = crate::cache::cache_key(
            caller.account.account_id,
            primary.endpoint.kind.id(),
            &primary.model,
            &serde_json::to_value(request).unwrap_or_default(),
        );
        let span = crate::telemetry::cache_span();
        let found = state.cache.get(&key).instrument(span.clone()).await;
        span.record("llm_gateway.cache.hit", found.is_some());
        Ok(match found {
            Some(hit) => CacheLookup::Hit(hit),
            None => CacheLookup::Miss(key),
        })
    }

    /// Whether the cache was asked for (a fresh answer may be stored).
    pub(super) fn is_on(&self) -> bool {
        !matches!(self, CacheLookup::Off)
    }

    /// Stores a complete answer of the primary model under the request's key.
    pub(super) async fn store(
        &self,
        state: &GatewayState,
        decision: &RouteDecision<'_>,
        outcome: &ChatOutcome,
    ) {
        let CacheLookup::Miss(key) = self else {
            return;
        };
        let Ok(text) = std::str::from_utf8(&outcome.body) else {
            return;
        };
        let answer = CachedAnswer {
            body: text.to_owned(),
            provider: decision.endpoint.kind.id().to_owned(),
            model: outcome.served_model.clone(),
            usage: outcome.usage,
        };
        state.cache.put(key.clone(), answer).await;
    }

    /// `x-gateway-cache: MISS` on a fresh answer the cache was asked for.
    pub(super) fn mark(&self, response: &mut Response) {
        if !matches!(self, CacheLookup::Off) {
            response
                .headers_mut()
                .insert(CACHE_HEADER, HeaderValue::from_static("MISS"));
        }
    }
}

/// Whether this request uses the response cache (see [`cache_wanted`]).
pub(super) fn wanted(
    state: &GatewayState,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<bool, ApiError> {
    let plan_includes_cache = state
        .settings
        .plans
        .limits(caller.account.plan)
        .response_cache;
    cache_wanted(headers, &caller.policy, plan_includes_cache)
}

/// Whether this request uses the response cache: never on a plan without it; else the request's
/// `x-gateway-cache: on|off`, else the key's or account's setting (off by default).
fn cache_wanted(
    headers: &HeaderMap,
    policy: &RoutingPolicy,
    plan_includes_cache: bool,
) -> Result<bool, ApiError> {
    let asked = match headers
        .get(CACHE_HEADER)
        .map(|value| value.to_str().map(|v| v.trim().to_ascii_lowercase()))
    {
        None => None,
        Some(Ok(value)) if value == "on" => Some(true),
        Some(Ok(value)) if value == "off" => Some(false),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_header"),
                "The x-gateway-cache header must be `on` or `off`.",
            ));
        }
    };
    Ok(plan_includes_cache && asked.unwrap_or(policy.cache == Some(true)))
}

/// Answers from the cache, as JSON or, for `stream: true`, as the same answer in SSE chunks. The
/// usage event marks the hit: nothing was spent, and the saving is what the hit avoided
/// (`usage::savings`).
pub(super) fn serve_hit(
    usage: &UsageContext,
    decision: &RouteDecision<'_>,
    hit: CachedAnswer,
    request: &ChatCompletionRequest,
    mut shape: Box<dyn AnswerShape>,
) -> Result<Response, ApiError> {
    usage.record_cache_hit(decision, &hit);
    let decision_shown = RouteDecision {
        endpoint: decision.endpoint,
        model: decision.model.clone(),
        reason: format!("cache hit: {}", decision.reason),
        tier: decision.tier,
        routed: decision.routed,
    };
    let mut response = if request.wants_stream() {
        let usage = request.wants_stream_usage();
        respond::whole_as_stream(&hit.body, usage, shape.as_mut(), &decision_shown)
    } else {
        respond::json(shape.whole(Bytes::from(hit.body))?, &decision_shown)
    };
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static("HIT"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_HEADER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_request_header_beats_the_policy_but_never_the_plan() {
        let policy_on = RoutingPolicy {
            cache: Some(true),
            ..Default::default()
        };
        let no_policy = RoutingPolicy::default();
        assert!(!cache_wanted(&HeaderMap::new(), &no_policy, true).unwrap());
        assert!(cache_wanted(&HeaderMap::new(), &policy_on, true).unwrap());
        assert!(!cache_wanted(&asking("off"), &policy_on, true).unwrap());
        assert!(cache_wanted(&asking(" ON "), &no_policy, true).unwrap());
        assert!(!cache_wanted(&asking("on"), &policy_on, false).unwrap());
        let refused = cache_wanted(&asking("maybe"), &no_policy, true).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }
}
