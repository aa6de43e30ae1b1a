//! What is recorded of one proxied request.

use super::savings;

/// One proxied request. There is deliberately no field for prompt or completion text.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub account_id: i32,
    pub key_id: i32,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u32,
    pub status: u16,
    pub error_code: Option<String>,
    pub created_at_ms: i64,
    pub tier: Option<String>,
    pub baseline_model: Option<String>,
    pub cost_usd: f64,
    pub saving_usd: f64,
    /// Whether this event counts against the monthly quota: the first event of each admitted
    /// request does, the events of its failed attempts and fallbacks do not.
    pub counted: bool,
    /// Served from the response cache: no provider was called.
    pub cache_hit: bool,
    /// Why the request went where it went (the `x-gateway-route-reason` header).
    pub route_reason: Option<String>,
    /// The gateway chose the model (`auto`); see [`savings`].
    pub routed: bool,
    /// The served model has a list price.
    pub priced: bool,
    /// The same tokens on the baseline model, when it has a price.
    pub baseline_cost_usd: Option<f64>,
}

impl UsageEvent {
    /// A saving is claimed for this request: it was routed against a priced baseline, or served
    /// from the cache (see [`savings`]).
    pub fn claims_saving(&self) -> bool {
        savings::claims_saving(
            self.priced,
            self.routed,
            self.cache_hit,
            self.baseline_cost_usd.is_some(),
        )
    }
}
