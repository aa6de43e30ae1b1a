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
    /// The key was accepted: the request is a use of it (its "last used"). Not so for a revoked
    /// key or a wrong secret behind its prefix, which are logged under it all the same.
    pub key_accepted: bool,
}

impl UsageEvent {
    /// An event of a key's request that `started` and ended with `status`, before anything of
    /// what was served is known: no provider, model, tokens, route or price. The proxy's stages
    /// fill in what they served; a request refused before a provider was called stays so.
    pub fn of_request(
        account_id: i32,
        key_id: i32,
        started: std::time::Instant,
        status: u16,
        error_code: Option<&str>,
    ) -> Self {
        UsageEvent {
            account_id,
            key_id,
            provider: String::new(),
            model: String::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
            status,
            // What a client or a provider named is stored bounded, whatever it sent.
            error_code: error_code.map(|code| {
                crate::openai::clipped(code, crate::error::MAX_ERROR_CODE_BYTES).to_owned()
            }),
            created_at_ms: crate::clock::now_ms(),
            tier: None,
            baseline_model: None,
            cost_usd: 0.0,
            saving_usd: 0.0,
            counted: false,
            cache_hit: false,
            route_reason: None,
            routed: false,
            priced: false,
            baseline_cost_usd: None,
            key_accepted: true,
        }
    }

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
