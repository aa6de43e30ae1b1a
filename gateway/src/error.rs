//! Errors at the `/v1` boundary. Each concern has its own enum; all fold into [`ApiError`], which
//! renders OpenAI's error shape `{"error": {"message", "type", "param", "code"}}`.

mod anthropic;

pub use anthropic::{anthropic_error_body, anthropic_error_type, anthropic_status};

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The error body OpenAI's SDKs parse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// The longest error code stored with a usage event (a provider's own codes are a few words).
pub const MAX_ERROR_CODE_BYTES: usize = 64;

/// The code (else the type) of the error an answer carries, for the request log.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

/// An error ready to be sent to a `/v1` client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<HeaderValue>,
    /// Provider, `provider/model` and reason of the route taken, sent as `x-gateway-*` headers.
    pub route: Option<(String, String, String)>,
    /// Any other headers the answer carries (`x-ratelimit-*`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    message: message.into(),
                    kind: kind.to_owned(),
                    param: None,
                    code: code.map(str::to_owned),
                },
            },
            retry_after: None,
            route: None,
            headers: Vec::new(),
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.body.error.param = Some(param.into());
        self
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            Some("internal_error"),
            "The gateway hit an internal error. It has been logged; please retry.",
        )
    }
}

/// The shape a route's errors take: OpenAI's `{"error": {…}}`, or Anthropic's
/// `{"type": "error", "error": {"type", "message"}}` on the Messages API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    OpenAi,
    Anthropic,
}

tokio::task_local! {
    static ROUTE_ERROR_SHAPE: ErrorShape;
}

impl ErrorShape {
    /// Serves a request with every [`ApiError`] rendered in this shape, once, where it is made.
    pub async fn scope<F: Future>(self, served: F) -> F::Output {
        ROUTE_ERROR_SHAPE.scope(self, served).await
    }

    fn current() -> Self {
        ROUTE_ERROR_SHAPE
            .try_with(|shape| *shape)
            .unwrap_or(ErrorShape::OpenAi)
    }
}

/// Marks an error answer already in its route's shape (an [`ApiError`] rendered in scope).
#[derive(Debug, Clone, Copy)]
pub struct ShapedError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = ErrorCode(
            self.body
                .error
                .code
                .clone()
                .unwrap_or_else(|| self.body.error.kind.clone()),
        );
        let mut response = match ErrorShape::current() {
            ErrorShape::OpenAi => (self.status, axum::Json(self.body)).into_response(),
            ErrorShape::Anthropic => (
                self.status,
                axum::Json(anthropic_error_body(
                    self.status.as_u16(),
                    &self.body.error.message,
                )),
            )
                .into_response(),
        };
        response.extensions_mut().insert(ShapedError);
        response.extensions_mut().insert(code);
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        if let Some((provider, model, reason)) = self.route {
            for (name, value) in [
                ("x-gateway-provider", provider),
                ("x-gateway-model", model),
                ("x-gateway-route-reason", reason),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
        }
        response
    }
}

/// What a plan does not allow a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "You have used all {limit} requests of the {plan} plan this month. The quota resets on {resets}{upgrade}.",
        limit = crate::plans::group_thousands(*limit),
        plan = plan.display_name(),
        resets = crate::plans::format_utc(*resets_at),
        upgrade = if *plan == crate::plans::Plan::Enterprise { "" } else { "; upgrade your plan in the portal for more" }
    )]
    QuotaExceeded {
        plan: crate::plans::Plan,
        limit: u64,
        resets_at: i64,
    },
    #[error(
        "Streaming (stream: true) is not included in the {plan} plan; it needs {needed}. Upgrade in the portal, or send the request without stream.",
        plan = plan.display_name(),
        needed = needed.map_or("another plan", |p| p.display_name())
    )]
    StreamingNotIncluded {
        plan: crate::plans::Plan,
        needed: Option<crate::plans::Plan>,
    },
    #[error(
        "This key is beyond the {limit} gateway keys of the {plan} plan (only the oldest keys are served after a downgrade). Revoke other keys or upgrade.",
        limit = limit.describe(),
        plan = plan.display_name()
    )]
    KeyBeyondPlan {
        plan: crate::plans::Plan,
        limit: crate::plans::Limit,
    },
    /// The per-key safety valve (`crate::abuse`), whatever the plan.
    #[error(
        "This gateway key sent more than {per_second} requests in a second. Slow down, or spread the load over several keys."
    )]
    KeyRequestRate {
        per_second: u32,
        retry_after: std::time::Duration,
    },
    #[error(
        "This gateway key already has {limit} streams open, the most one key may. Wait for one to finish."
    )]
    TooManyStreams { limit: u32 },
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        let message = err.to_string();
        match err {
            PlanError::QuotaExceeded { resets_at, .. } => {
                let seconds = ((resets_at - crate::clock::now_ms()).max(0) + 999) / 1000;
                let mut api = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "insufficient_quota",
                    Some("monthly_quota_exceeded"),
                    message,
                );
                api.retry_after = HeaderValue::from_str(&seconds.to_string()).ok();
                api
            }
            PlanError::KeyBeyondPlan { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                Some("key_beyond_plan"),
                message,
            ),
            PlanError::StreamingNotIncluded { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                Some("plan_does_not_include_streaming"),
                message,
            )
            .with_param("stream"),
            PlanError::KeyRequestRate { retry_after, .. } => {
                let mut api = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    Some("rate_limit_exceeded"),
                    message,
                );
                let seconds = crate::abuse::Throttled { retry_after }.retry_after_secs();
                api.retry_after = HeaderValue::from_str(&seconds.to_string()).ok();
                api
            }
            PlanError::TooManyStreams { .. } => {
                let mut api = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    Some("too_many_concurrent_streams"),
                    message,
                );
                api.retry_after = Some(HeaderValue::from_static("1"));
                api
            }
        }
    }
}

/// Why a request's credentials were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "You didn't provide an API key. Send your gateway key in the Authorization header as `Bearer gw_…`."
    )]
    Missing,
    #[error("The Authorization header must be `Bearer gw_…` with a gateway key.")]
    Malformed,
    #[error("Incorrect API key provided. Check the key or create one in the portal.")]
    Unknown,
    #[error("This API key has been revoked. Create a new key in the portal.")]
    Revoked,
    #[error("could not check the API key: {0}")]
    Lookup(String),
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let code = match err {
            AuthError::Missing => "missing_api_key",
            AuthError::Malformed | AuthError::Unknown => "invalid_api_key",
            AuthError::Revoked => "revoked_api_key",
            AuthError::Lookup(detail) => {
                tracing::error!(%detail, "gateway key lookup failed");
                return ApiError::internal();
            }
        };
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some(code),
            err.to_string(),
        )
    }
}

/// What is wrong with a request body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("We could not parse the JSON body of your request: {0}")]
    InvalidJson(String),
    #[error("Missing required parameter: '{0}'.")]
    MissingField(String),
    #[error("Invalid value for '{param}': {reason}")]
    InvalidField { param: String, reason: String },
    #[error("Unsupported content type: send the body as application/json.")]
    ContentType,
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "No provider is configured for this account{0}. Add a provider key in the portal (Providers) or with `llm-gateway provider add`."
    )]
    NoProvider(String),
    #[error("The model '{0}' does not exist or you do not have access to it.")]
    UnknownModel(String),
    /// The account's or key's routing policy forbids what was asked.
    #[error("{0}")]
    NotAllowed(String),
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        let message = err.to_string();
        let (status, code, param) = match &err {
            RequestError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json", None),
            RequestError::MissingField(field) => (
                StatusCode::BAD_REQUEST,
                "missing_required_parameter",
                Some(field.clone()),
            ),
            RequestError::InvalidField { param, .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_value",
                Some(param.clone()),
            ),
            RequestError::ContentType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_content_type",
                None,
            ),
            RequestError::Unsupported(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_parameter", None)
            }
            RequestError::NoProvider(_) => (
                StatusCode::BAD_REQUEST,
                "provider_not_configured",
                Some("model".into()),
            ),
            RequestError::UnknownModel(_) => (
                StatusCode::NOT_FOUND,
                "model_not_found",
                Some("model".into()),
            ),
            RequestError::NotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "model_not_allowed",
                Some("model".into()),
            ),
        };
        let mut api = ApiError::new(status, "invalid_request_error", Some(code), message);
        api.body.error.param = param;
        api
    }
}

/// A failure talking to a provider. Mapped, never leaked: upstream bodies are parsed and only
/// their error message, type and code are passed on.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{provider} returned {status}: {message}")]
    Status {
        provider: &'static str,
        status: StatusCode,
        message: String,
        kind: Option<String>,
        code: Option<String>,
        retry_after: Option<HeaderValue>,
    },
    #[error("{provider} did not answer within {seconds} seconds")]
    Timeout {
        provider: &'static str,
        seconds: u64,
    },
    #[error("could not reach {provider}: {detail}")]
    Connect {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider} sent a response the gateway could not read: {detail}")]
    InvalidResponse {
        provider: &'static str,
        detail: String,
    },
    /// The provider's base URL leads somewhere the gateway does not connect (see `crate::egress`).
    #[error("{provider}: refused to connect: {refusal}")]
    Egress {
        provider: &'static str,
        refusal: crate::egress::EgressRefusal,
    },
    /// The request cannot be expressed in the provider's API.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl UpstreamError {
    /// Whether another attempt (or another model) may succeed: connection failures, timeouts,
    /// rate limits and the provider's own failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A loop reported by a gateway upstream stays a loop, however often it is retried.
            UpstreamError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || (status.is_server_error() && *status != StatusCode::LOOP_DETECTED)
            }
            UpstreamError::Timeout { .. } | UpstreamError::Connect { .. } => true,
            UpstreamError::InvalidResponse { .. }
            | UpstreamError::Egress { .. }
            | UpstreamError::Request(_) => false,
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::Status {
                provider,
                status,
                message,
                kind,
                code,
                retry_after,
            } => {
                // A client error keeps the provider's status and meaning (an auth error stays a
                // 401, a rate limit a 429); a provider's own failure is a bad gateway to us.
                // A loop reported upstream stays a 508, so that every gateway of the chain
                // passes it on without retrying.
                let (status, message) = if status == StatusCode::LOOP_DETECTED {
                    (status, message)
                } else if status.is_server_error() {
                    (
                        StatusCode::BAD_GATEWAY,
                        format!("{provider} failed with {status}: {message}"),
                    )
                } else if !status.is_client_error() {
                    // A redirect (never followed: it would take the provider key along) or an
                    // informational status is no answer either.
                    (
                        StatusCode::BAD_GATEWAY,
                        format!("{provider} answered {status}, which the gateway does not follow"),
                    )
                } else {
                    (status, format!("{provider}: {message}"))
                };
                let kind = kind.unwrap_or_else(|| default_kind(status).to_owned());
                let mut api = ApiError::new(status, &kind, None, message);
                api.body.error.code = code;
                api.retry_after = retry_after;
                api
            }
            UpstreamError::Timeout { .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout_error",
                Some("upstream_timeout"),
                err.to_string(),
            ),
            UpstreamError::Connect { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                Some("upstream_unreachable"),
                err.to_string(),
            ),
            UpstreamError::InvalidResponse { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                Some("upstream_invalid_response"),
                err.to_string(),
            ),
            UpstreamError::Egress { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                Some("upstream_address_refused"),
                err.to_string(),
            ),
            UpstreamError::Request(request) => ApiError::from(request),
        }
    }
}

/// The OpenAI-style error type for a status, where the provider's body names none of ours.
pub(crate) fn default_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests;
