//! Around every stage: the time each `/v1` request waits for its provider is counted (see
//! [`crate::metrics`]), for its usage events' latency split; for a chat or embeddings request,
//! the time the gateway adds is observed for `/metrics` when the response head is ready.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{MeasuredRoute, measuring_upstream_wait};
use crate::state::GatewayState;

pub(super) async fn measure(
    State(state): State<GatewayState>,
    request: Request,
    next: Next,
) -> Response {
    let route = MeasuredRoute::of_path(request.uri().path());
    let started = std::time::Instant::now();
    let (response, upstream_wait) = measuring_upstream_wait(next.run(request)).await;
    let Some(route) = route else {
        return response;
    };
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    state.metrics.observe_overhead(
        route,
        streaming,
        started.elapsed().saturating_sub(upstream_wait),
    );
    response
}
