//! Around every stage: the time the gateway adds to a chat or embeddings request (see
//! [`crate::metrics`]), observed for `/metrics` when the response head is ready.

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
    let Some(route) = MeasuredRoute::of_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let started = std::time::Instant::now();
    let (response, upstream_wait) = measuring_upstream_wait(next.run(request)).await;
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
