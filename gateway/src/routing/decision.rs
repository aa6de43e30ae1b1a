//! Where a request goes: one model of one provider, and why.

use crate::catalog::Tier;
use crate::providers::ProviderEndpoint;

#[derive(Debug, Clone)]
pub struct RouteDecision<'a> {
    pub endpoint: &'a ProviderEndpoint,
    /// The model name as the provider knows it (no `provider/` prefix).
    pub model: String,
    /// Why this model, for the `x-gateway-route-reason` header.
    pub reason: String,
    /// The model's tier, when the catalog knows it.
    pub tier: Option<Tier>,
    /// The gateway chose this model for an `auto` request (scored, or the next allowed provider
    /// of the chosen tier): the only decisions routing claims savings for. A pinned, forced,
    /// default or fallback model is the caller's or the policy's choice.
    pub routed: bool,
}

pub const AUTO: &str = "auto";
