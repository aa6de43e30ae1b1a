//! Loop protection: every upstream call to an OpenAI-compatible provider says how many gateways
//! the request has passed through, and a request that has passed through too many is refused. A
//! provider whose base URL points back at this gateway (or at a chain of gateways that leads
//! back) then costs a few calls, not an endless loop multiplied by retries.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::error::ApiError;

pub use crate::providers::HOPS_HEADER;
/// Gateways one request may pass through: chaining two or three is a real set-up, more a loop.
pub const MAX_HOPS: u32 = 4;

/// How many gateways the request has already passed through (0 from a client).
pub fn incoming(headers: &HeaderMap) -> u32 {
    headers
        .get(HOPS_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

pub(super) async fn refuse_loops(request: Request, next: Next) -> Response {
    let hops = incoming(request.headers());
    if hops >= MAX_HOPS {
        return ApiError::new(
            StatusCode::LOOP_DETECTED,
            "invalid_request_error",
            Some("gateway_loop"),
            format!(
                "This request has passed through {hops} gateways: a provider's base URL points back at a gateway. Check the base URLs of this account's providers."
            ),
        )
        .into_response();
    }
    next.run(request).await
}
