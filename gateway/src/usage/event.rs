//! What is recorded of one proxied request.

use super::savings;

/// The id of one `/v1` request: every usage event it makes carries it, and the client gets it as
/// `x-request-id` (`req_` and 16 hex digits), so a request the client logged is found in the
/// request log with its attempts and fallbacks.
///
/// Ordered by time, as UUIDv7 is: the milliseconds since 2025 in the top 41 bits (to 2094), then
/// 22 bits counting up from a random start in this process. The usage events' index on it then
/// grows at its end; with random ids every event dirtied a page of the index anywhere in it, so
/// SQLite wrote about one 4 KiB page of it to the WAL per event (~3.5 `pwrite`s per event,
/// counted). Unique within a server (4 million ids in one millisecond would be needed to wrap);
/// between replicas two ids meet only in the same millisecond, the same odds as random ids cut to
/// the bits that are not time. The request log looks ids up within one account only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub i64);

/// 2025-01-01T00:00:00Z, in milliseconds since the Unix epoch.
const REQUEST_ID_EPOCH_MS: i64 = 1_735_689_600_000;
const SEQUENCE_BITS: u32 = 22;
const TIME_BITS: u32 = 41;

static SEQUENCE: std::sync::LazyLock<std::sync::atomic::AtomicU64> =
    std::sync::LazyLock::new(|| std::sync::atomic::AtomicU64::new(rand::random()));

impl RequestId {
    pub fn new() -> Self {
        Self::at(crate::clock::now_ms())
    }

    /// The id of a request that arrived at `unix_ms`.
    fn at(unix_ms: i64) -> Self {
        let millis =
            (unix_ms.saturating_sub(REQUEST_ID_EPOCH_MS).max(0) as u64) & ((1 << TIME_BITS) - 1);
        let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            & ((1 << SEQUENCE_BITS) - 1);
        // 63 bits: positive in every database's BIGINT.
        RequestId(((millis << SEQUENCE_BITS) | sequence) as i64)
    }

    /// `req_…` as the client sees it; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.trim().strip_prefix("req_")?;
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
            .and_then(|id| i64::try_from(id).ok())
            .map(RequestId)
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "req_{:016x}", self.0)
    }
}

/// One proxied request. There is deliberately no field for prompt or completion text.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub account_id: i32,
    pub key_id: i32,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// From the request's arrival to this event: the end of its answer (a stream's last byte).
    pub latency_ms: u32,
    /// Of that, the time spent waiting for providers up to the answer's head: sending, reading,
    /// a stream's first event, backoff between retries. `None` where it was not measured.
    pub upstream_ms: Option<u32>,
    /// A stream's first byte to the client, from the request's arrival.
    pub first_byte_ms: Option<u32>,
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
    /// The request this event belongs to (shared by its attempts).
    pub request_id: RequestId,
}

impl UsageEvent {
    /// An event of a key's request that `started` and ended with `status`, before anything of
    /// what was served is known: no provider, model, tokens, route or price. The proxy's stages
    /// fill in what they served; a request refused before a provider was called stays so.
    pub fn of_request(
        request_id: RequestId,
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
            latency_ms: millis(started.elapsed()),
            upstream_ms: crate::metrics::upstream_wait_so_far().map(millis),
            first_byte_ms: None,
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
            request_id,
        }
    }

    /// What this event says of its request, on the request's span (the current one) when
    /// traces are exported (`crate::telemetry`): the last event of a request, its answer, is
    /// what stays. Metadata only, as the event itself.
    pub fn trace(&self) {
        if !crate::telemetry::enabled() {
            return;
        }
        let span = tracing::Span::current();
        if !self.model.is_empty() {
            span.record("gen_ai.response.model", self.model.as_str());
            span.record("gen_ai.provider.name", self.provider.as_str());
        }
        span.record("gen_ai.usage.input_tokens", self.prompt_tokens);
        span.record("gen_ai.usage.output_tokens", self.completion_tokens);
        span.record("llm_gateway.cost_usd", self.cost_usd);
        span.record("llm_gateway.cache.hit", self.cache_hit);
        if let Some(tier) = &self.tier {
            span.record("llm_gateway.route.tier", tier.as_str());
        }
        if let Some(reason) = &self.route_reason {
            span.record("llm_gateway.route.reason", reason.as_str());
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

/// Milliseconds, saturating at what a `u32` holds (49 days).
pub fn millis(duration: std::time::Duration) -> u32 {
    duration.as_millis().min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::RequestId;
    use std::collections::HashSet;

    #[test]
    fn request_ids_read_back_as_written_and_nothing_else_reads() {
        for _ in 0..100 {
            let id = RequestId::new();
            assert!(id.0 >= 0);
            let text = id.to_string();
            assert_eq!(text.len(), 20, "{text}");
            assert_eq!(RequestId::parse(&text), Some(id));
        }
        for bad in [
            "",
            "req_",
            "req_123",
            "req_zzzzzzzzzzzzzzzz",
            "8000000000000000",
            "req_8000000000000000",
        ] {
            assert_eq!(RequestId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_ids_follow_time_and_never_repeat_within_a_server() {
        let now = crate::clock::now_ms();
        let ids: Vec<RequestId> = (0..100_000).map(|_| RequestId::at(now)).collect();
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "an id repeated within one millisecond"
        );
        // Ids of one millisecond stay within its span, below every id of the next.
        let later = RequestId::at(now + 1);
        let this_millisecond = (ids[0].0 >> 22, ids[99_999].0 >> 22);
        assert_eq!(this_millisecond.0, this_millisecond.1);
        assert_eq!(later.0 >> 22, this_millisecond.0 + 1, "{later:?}");
        assert!(ids.iter().all(|id| id.0 < later.0));
        // Before the epoch (a clock set wrong) still gives a valid id.
        assert!(RequestId::at(0).0 >= 0);
        // The millisecond is read back from the id: the epoch is 2025-01-01.
        let epoch = RequestId::at(1_735_689_600_000);
        assert_eq!(epoch.0 >> 22, 0);
    }
}
