//! Stage 1: who is calling. The layer checks the gateway key on every `/v1` request; the
//! [`Caller`] extractor turns the key into its account and routing policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::directory::{AccountConfig, AuthenticatedKey, DirectoryError, KeyRefused};
use crate::error::{ApiError, AuthError, PlanError};
use crate::routing::RoutingPolicy;
use crate::state::GatewayState;
use crate::usage::{RequestId, UsageEvent};

/// Checks `Authorization: Bearer gw_…` and hands the key's owner to the handler.
pub(super) async fn require_gateway_key(
    State(state): State<GatewayState>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let request_id = RequestId::new();
    if crate::telemetry::enabled() {
        tracing::Span::current().record("llm_gateway.request.id", request_id.to_string());
    }
    let mut response = authenticated(state, request, next, started, request_id).await;
    // Every /v1 answer names its request: the id the request log finds it by.
    if let Ok(value) = axum::http::HeaderValue::from_str(&request_id.to_string()) {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// The key checked and the request served; a refusal that names a key of an account is logged
/// under it.
async fn authenticated(
    state: GatewayState,
    mut request: Request,
    next: Next,
    started: std::time::Instant,
    request_id: RequestId,
) -> Response {
    let anthropic_route = takes_x_api_key(request.uri().path());
    let key = match bearer_token(request.headers(), anthropic_route) {
        Ok(token) => state.directory.authenticate(token).await,
        Err(err) => Err(err.into()),
    };
    match key {
        Ok(key) => {
            if let Err(throttled) = state.abuse.admit_request(key.key_id) {
                return ApiError::from(PlanError::KeyRequestRate {
                    per_second: state.settings.abuse.key_requests_per_second,
                    retry_after: throttled.retry_after,
                })
                .into_response();
            }
            request.extensions_mut().insert(key);
            request.extensions_mut().insert(request_id);
            let opened = UsageOpened::default();
            request.extensions_mut().insert(opened.clone());
            let response = next.run(request).await;
            // A request refused before it reached a provider (a bad body, an unknown model, the
            // plan's limits) records no usage of its own: the log shows it all the same.
            if response.status().as_u16() >= 400 && !opened.0.load(Ordering::Relaxed) {
                state
                    .usage
                    .record(refused(request_id, &key, &response, started));
            }
            response
        }
        Err(KeyRefused { error, named }) => {
            let response = ApiError::from(error).into_response();
            // A revoked key, or a wrong secret behind a key's prefix, shows in that account's
            // log; at most at the key's request rate, so nobody can flood a log they cannot read.
            if let Some(key) = named
                && state.abuse.admit_request(key.key_id).is_ok()
            {
                let event = UsageEvent {
                    key_accepted: false,
                    ..refused(request_id, &key, &response, started)
                };
                state.usage.record(event);
            }
            response
        }
    }
}

/// Set once the request's usage context exists: from then on its own events record it.
#[derive(Debug, Clone, Default)]
pub(super) struct UsageOpened(pub Arc<AtomicBool>);

/// The event of a request refused before any provider was called: its status and error code,
/// no tokens, no cost, not counted against the quota.
fn refused(
    request_id: RequestId,
    key: &AuthenticatedKey,
    response: &Response,
    started: std::time::Instant,
) -> UsageEvent {
    let code = response.extensions().get::<crate::error::ErrorCode>();
    UsageEvent::of_request(
        request_id,
        key.account_id,
        key.key_id,
        started,
        response.status().as_u16(),
        code.map(|code| code.0.as_str()),
    )
}

/// The routes of Anthropic's API, where its SDKs send the key as `x-api-key`.
fn takes_x_api_key(path: &str) -> bool {
    path.ends_with("/messages")
        || path.ends_with("/messages/count_tokens")
        || path.contains("/models")
}

/// The gateway key: `Authorization: Bearer gw_…`, or, on Anthropic's routes only,
/// `x-api-key: gw_…` as Anthropic's SDKs send it.
fn bearer_token(headers: &HeaderMap, anthropic_route: bool) -> Result<&str, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if !anthropic_route {
            return Err(AuthError::Missing);
        }
        return match headers.get("x-api-key").map(|key| key.to_str()) {
            Some(Ok(key)) if !key.trim().is_empty() => Ok(key.trim()),
            Some(_) => Err(AuthError::Malformed),
            None => Err(AuthError::Missing),
        };
    };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(AuthError::Malformed);
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

/// The authenticated key, its account (from the directory's memory) and the routing policy in
/// force for this key.
pub struct Caller {
    pub key: AuthenticatedKey,
    /// Set when the request's usage context is made (see [`require_gateway_key`]).
    pub(super) usage_opened: Arc<AtomicBool>,
    /// The id every usage event of this request carries (its `x-request-id`).
    pub request_id: RequestId,
    pub account: Arc<AccountConfig>,
    pub policy: RoutingPolicy,
}

impl FromRequestParts<GatewayState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &GatewayState,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = parts.extensions.get::<AuthenticatedKey>().copied() else {
            tracing::error!("a /v1 handler was reached without the gateway key layer");
            return Err(ApiError::internal());
        };
        let account = load_account(state, &key).await?;
        let mut policy = account.routing.effective(key.key_id);
        // Calibration's threshold, where the account asks for it and sets none itself.
        let calibrating = policy
            .quality_checks
            .as_ref()
            .is_some_and(|checks| checks.target_adequacy.is_some());
        if calibrating && policy.threshold.is_none() {
            policy.threshold = account.calibrated_threshold.map(|t| t as f32);
        }
        let usage_opened = parts
            .extensions
            .get::<UsageOpened>()
            .map(|opened| opened.0.clone())
            .unwrap_or_default();
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .copied()
            .unwrap_or_default();
        Ok(Caller {
            key,
            usage_opened,
            request_id,
            account,
            policy,
        })
    }
}

/// The key's account; refuses a key the plan no longer covers.
async fn load_account(
    state: &GatewayState,
    key: &AuthenticatedKey,
) -> Result<Arc<AccountConfig>, ApiError> {
    let account = state.directory.account(key.account_id).await.map_err(|err| match err {
        DirectoryError::AccountGone => ApiError::from(AuthError::Unknown),
        other => {
            tracing::error!(error = %other, account_id = key.account_id, "could not load the account");
            ApiError::internal()
        }
    })?;
    if !account.key_within_plan(key.key_id) {
        let limit = state.settings.plans.limits(account.plan).gateway_keys;
        return Err(PlanError::KeyBeyondPlan {
            plan: account.plan,
            limit,
        }
        .into());
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        fn read(headers: &HeaderMap) -> Result<&str, AuthError> {
            bearer_token(headers, false)
        }
        assert_eq!(read(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(read(&headers("gw_abc")), Err(AuthError::Malformed));
        assert_eq!(read(&headers("Basic gw_abc")), Err(AuthError::Malformed));
        assert_eq!(read(&headers("Bearer  ")), Err(AuthError::Malformed));
        assert_eq!(read(&headers("bearer gw_abc")), Ok("gw_abc"));
    }

    #[test]
    fn x_api_key_is_taken_only_on_anthropics_routes() {
        let mut anthropic = HeaderMap::new();
        anthropic.insert("x-api-key", "gw_abc".parse().unwrap());
        for path in [
            "/messages",
            "/v1/messages",
            "/messages/count_tokens",
            "/models",
            "/models/auto",
        ] {
            assert!(takes_x_api_key(path), "{path}");
            assert_eq!(
                bearer_token(&anthropic, takes_x_api_key(path)),
                Ok("gw_abc")
            );
        }
        for path in [
            "/chat/completions",
            "/responses",
            "/embeddings",
            "/routing/preview",
        ] {
            assert!(!takes_x_api_key(path), "{path}");
            assert_eq!(bearer_token(&anthropic, false), Err(AuthError::Missing));
        }
    }
}
