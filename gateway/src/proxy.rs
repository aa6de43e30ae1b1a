//! The OpenAI-compatible API under `/v1`. Handlers stay thin: authentication is a layer, model
//! resolution and the upstream call live in their own modules.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};

use crate::clock::now_ms;
use crate::directory::{AuthenticatedKey, DirectoryError};
use crate::error::{ApiError, AuthError, RequestError};
use crate::openai::ChatCompletionRequest;
use crate::providers::{Provider, UpstreamCall};
use crate::routing::{self, RouteDecision};
use crate::state::GatewayState;
use crate::usage::UsageEvent;

/// Request bodies may carry base64 images; OpenAI itself accepts up to about 20 MB.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The `/v1` router, to be nested under `/v1`.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/chat/completions", post(chat_completions))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_gateway_key))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Checks `Authorization: Bearer gw_…` and hands the key's owner to the handler.
async fn require_gateway_key(State(state): State<GatewayState>, mut request: Request, next: Next) -> Response {
    let key = match bearer_token(request.headers()) {
        Ok(token) => state.directory.authenticate(token).await,
        Err(err) => Err(err),
    };
    match key {
        Ok(key) => {
            request.extensions_mut().insert(key);
            next.run(request).await
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthError::Missing);
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

async fn chat_completions(
    State(state): State<GatewayState>,
    Extension(key): Extension<AuthenticatedKey>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = body.map_err(|rejection| {
        ApiError::new(rejection.status(), "invalid_request_error", Some("invalid_body"), rejection.body_text())
    })?;
    if !is_json(&headers) {
        return Err(RequestError::ContentType.into());
    }
    let mut request = ChatCompletionRequest::from_json_bytes(&body)?;
    if request.stream == Some(true) {
        return Err(RequestError::Unsupported(
            "Streaming (`stream: true`) is not available on this gateway yet; send the request without it.".into(),
        )
        .into());
    }
    let account = state.directory.account(key.account_id).await.map_err(|err| match err {
        DirectoryError::AccountGone => ApiError::from(AuthError::Unknown),
        other => {
            tracing::error!(error = %other, account_id = key.account_id, "could not load the account");
            ApiError::internal()
        }
    })?;
    let decision = routing::resolve(request.model.as_deref(), &account.providers)?;
    request.model = Some(decision.model.clone());

    let call = UpstreamCall {
        http: &state.http,
        endpoint: decision.endpoint,
        timeout: state.settings.upstream_timeout,
    };
    let outcome = Provider::for_kind(decision.endpoint.kind).chat(&call, &request).await;
    let latency_ms = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
    let event = |status: StatusCode, prompt_tokens, completion_tokens, model: &str, error_code| UsageEvent {
        account_id: key.account_id,
        key_id: key.key_id,
        provider: decision.endpoint.kind.id().to_owned(),
        model: model.to_owned(),
        prompt_tokens,
        completion_tokens,
        latency_ms,
        status: status.as_u16(),
        error_code,
        created_at_ms: now_ms(),
    };
    match outcome {
        Ok(outcome) => {
            state.usage.record(event(
                StatusCode::OK,
                outcome.usage.prompt_tokens,
                outcome.usage.completion_tokens,
                &outcome.served_model,
                None,
            ));
            let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], outcome.body).into_response();
            add_route_headers(response.headers_mut(), &decision);
            Ok(response)
        }
        Err(err) => {
            let api = ApiError::from(err);
            tracing::info!(status = %api.status, message = %api.body.error.message, "upstream call failed");
            state.usage.record(event(api.status, 0, 0, &decision.model, api.body.error.code.clone()));
            let mut response = api.into_response();
            add_route_headers(response.headers_mut(), &decision);
            Ok(response)
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    // A missing content type is accepted as JSON, as OpenAI does for curl users.
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|content_type| {
        content_type.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Says which model served the request and why.
fn add_route_headers(headers: &mut HeaderMap, decision: &RouteDecision<'_>) {
    let pairs = [
        ("x-gateway-provider", decision.endpoint.kind.id().to_owned()),
        ("x-gateway-model", format!("{}/{}", decision.endpoint.kind.id(), decision.model)),
        ("x-gateway-route-reason", decision.reason.clone()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

async fn unknown_endpoint(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        format!("Unknown request URL: {} {}.", request.method(), request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!("{} is not allowed on {}.", request.method(), request.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer_token(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(bearer_token(&headers("gw_abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&headers("Basic gw_abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&headers("Bearer  ")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&headers("bearer gw_abc")), Ok("gw_abc"));
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }
}
