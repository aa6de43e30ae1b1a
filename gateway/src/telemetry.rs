//! Traces for OpenTelemetry: one span per `/v1` request (the server's, see
//! `server/src/telemetry.rs`, which exports them over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set), with child spans for routing, the cache and each upstream attempt. Attribute names
//! follow OpenTelemetry's GenAI semantic conventions (`gen_ai.request.model`,
//! `gen_ai.usage.input_tokens`, …); the gateway's own are under `llm_gateway.`. Metadata only:
//! no span carries prompt or completion text.
//!
//! Off unless the server turns it on: then every helper here returns `Span::none()`, which costs
//! nothing on the request path.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Span;
use tracing::field::Empty;

/// The target of every span here: the exporter's layer listens to it alone.
pub const TARGET: &str = "llm_gateway::trace";

static ON: AtomicBool = AtomicBool::new(false);

/// Called once by the server when it exports traces.
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// A `/v1` request, as the server receives it (span kind server). `route` is the route's
/// template, never a path with ids in it.
pub fn request_span(method: &str, route: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        llm_gateway.request.id = Empty,
        gen_ai.request.model = Empty,
        gen_ai.response.model = Empty,
        gen_ai.provider.name = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        llm_gateway.cost_usd = Empty,
        llm_gateway.cache.hit = Empty,
        llm_gateway.route.tier = Empty,
        llm_gateway.route.reason = Empty,
    )
}

/// The route's template of a `/v1` path: a known route, else `/v1/*` (no ids in span names).
pub fn route_of(path: &str) -> &'static str {
    const ROUTES: [&str; 9] = [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/v1/messages",
        "/v1/v1/messages/count_tokens",
        "/v1/embeddings",
        "/v1/models",
        "/v1/routing/preview",
    ];
    ROUTES
        .iter()
        .find(|route| **route == path)
        .copied()
        .unwrap_or("/v1/*")
}

/// Stage 3: the models a request will try, and why.
pub fn routing_span(requested_model: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    Span::current().record("gen_ai.request.model", requested_model);
    tracing::info_span!(
        target: TARGET,
        "routing",
        gen_ai.request.model = %requested_model,
        llm_gateway.route.model = Empty,
        llm_gateway.route.tier = Empty,
        llm_gateway.route.reason = Empty,
    )
}

/// Stage 5: the response cache's answer.
pub fn cache_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(target: TARGET, "cache", llm_gateway.cache.hit = Empty)
}

/// Stage 6: one call to a provider (span kind client), named as the GenAI conventions name an
/// inference span: `chat {model}`.
pub fn attempt_span(provider: &str, model: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = %format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %provider,
        gen_ai.request.model = %model,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
    )
}
