//! The cascade's way up (`auto:verify`, `crate::verify`): when the routed model's answer fails
//! its checks, the models of the next tier the policy allows.

use super::decision::RouteDecision;
use super::models::{Needs, models_for_tier};
use super::pinned::allowed_providers;
use super::policy::RoutingPolicy;
use crate::catalog::Tier;
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderEndpoint;

/// The cascade's next step after `decision` (an `auto` choice whose answer failed its checks):
/// the models of the next tier up that the policy allows, as `resolve_chat` orders them. Empty
/// when the answer came from a pinned model or the highest tier allowed.
pub fn escalation<'a>(
    request: &ChatCompletionRequest,
    decision: &RouteDecision<'_>,
    providers: &'a [ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Vec<RouteDecision<'a>> {
    let next = match decision.tier {
        Some(Tier::Cheap) if decision.routed => Tier::Standard,
        Some(Tier::Standard) if decision.routed => Tier::Strong,
        _ => return Vec::new(),
    };
    let allowed = allowed_providers(providers, policy);
    let ordered = policy.providers.is_some();
    let needs = Needs::of(request);
    let Some((tier, candidates)) =
        models_for_tier(next, Some(next), policy.max_tier, &allowed, ordered, &needs)
    else {
        return Vec::new();
    };
    candidates
        .into_iter()
        .map(|(endpoint, entry)| RouteDecision {
            endpoint,
            model: entry.model.clone(),
            reason: format!(
                "auto:verify: the answer failed its checks -> {} tier",
                tier.id()
            ),
            tier: Some(entry.tier),
            routed: true,
        })
        .collect()
}
