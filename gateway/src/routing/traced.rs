//! Stage 3 as a span of the request's trace (`crate::telemetry`): what was asked, the model the
//! route starts with, its tier and why.

use super::chat;
use super::decision::RouteDecision;
use super::policy::RoutingPolicy;
use super::router::Router;
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderEndpoint;

/// [`chat::resolve_chat`], traced.
pub fn resolve_chat<'a>(
    router: &Router,
    request: &ChatCompletionRequest,
    fallbacks: &[String],
    providers: &'a [ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Result<Vec<RouteDecision<'a>>, RequestError> {
    let span = crate::telemetry::routing_span(request.model.as_deref().unwrap_or(""));
    let decisions =
        span.in_scope(|| chat::resolve_chat(router, request, fallbacks, providers, policy));
    if let Some(first) = decisions
        .as_ref()
        .ok()
        .and_then(|decisions| decisions.first())
    {
        span.record("llm_gateway.route.model", first.model.as_str());
        span.record("llm_gateway.route.reason", first.reason.as_str());
        if let Some(tier) = first.tier {
            span.record("llm_gateway.route.tier", tier.id());
        }
    }
    decisions
}
