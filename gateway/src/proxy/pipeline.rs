//! The request pipeline's shared steps, written once for every route that calls a provider
//! (chat and its dialects, pass-through, embeddings, Anthropic's token count):
//! [`admit_request`] is stage 4 and what wraps the stages after it, and [`upstream_call`] sets
//! up the call to a decision's provider. A stage that applies to every request is added here,
//! once.

use std::future::Future;
use std::time::Instant;

use axum::http::HeaderMap;
use axum::response::Response;

use super::Caller;
use super::admission;
use super::hops;
use super::usage::UsageContext;
use crate::error::ApiError;
use crate::limits::estimate::RequestSize;
use crate::providers::UpstreamCall;
use crate::routing::RouteDecision;
use crate::state::GatewayState;

/// What admission needs to know of a routed request.
pub(super) struct RequestToAdmit<'d, 'a> {
    /// What the request may cost (for budgets and token rate limits).
    pub size: RequestSize,
    /// The models it may go to, in order (their prices bound the reservation).
    pub decisions: &'d [RouteDecision<'a>],
    /// Whether it asks for a stream (a paid feature, and a place among the key's open streams).
    pub stream: bool,
    /// When it arrived, for the usage event's latency.
    pub started: Instant,
}

/// What admission hands on: the request's usage context (holding its reservation) and its place
/// among the key's open streams.
pub(super) struct Admitted {
    pub usage: UsageContext,
    pub stream_slot: Option<crate::abuse::StreamSlot>,
}

/// Stage 4 for every route: the plan's streaming rule, a place among the key's open streams,
/// the budgets and rate limits (reserving the request's cost), then the monthly quota; then
/// `serve` with what was admitted. Every answer, errors included, carries the rate-limit
/// headers OpenAI sends.
pub(super) async fn admit_request<F, Fut>(
    state: &GatewayState,
    caller: &Caller,
    request: RequestToAdmit<'_, '_>,
    serve: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Admitted) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    admission::check_streaming(state, &caller.account, request.stream)?;
    let stream_slot = admission::open_stream(state, caller.key.key_id, request.stream)?;
    let reserved = admission::reserve(state, caller, request.size, request.decisions).await?;
    let rate_headers = reserved.headers;
    let served = async {
        admission::admit(state, &caller.account).await?;
        let usage = UsageContext::new(state, caller, request.started, reserved.reservation);
        serve(Admitted { usage, stream_slot }).await
    };
    with_rate_headers(served.await, &rate_headers)
}

/// OpenAI sends its `x-ratelimit-*` headers with every answer, errors included.
fn with_rate_headers(
    served: Result<Response, ApiError>,
    rate_headers: &crate::limits::RateHeaders,
) -> Result<Response, ApiError> {
    match served {
        Ok(mut response) => {
            rate_headers.apply(response.headers_mut());
            Ok(response)
        }
        Err(mut error) => {
            error.headers.extend(rate_headers.pairs());
            Err(error)
        }
    }
}

/// The call to a decision's provider: its endpoint and key, the server's timeouts, and the hop
/// count one above the incoming request's (so a gateway pointed at itself is refused).
pub(super) fn upstream_call<'a>(
    state: &'a GatewayState,
    headers: &HeaderMap,
    decision: &RouteDecision<'a>,
) -> UpstreamCall<'a> {
    state.upstream_call(decision.endpoint, hops::incoming(headers) + 1)
}
