//! Stage 8: usage events, metadata only (tokens, cost, latency, model, route, status; never
//! text). Recorded off the request path: the recorder batches them to the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::http::StatusCode;

use super::caller::Caller;
use crate::cache::CachedAnswer;
use crate::catalog::{Catalog, CatalogModel};
use crate::directory::AuthenticatedKey;
use crate::error::ApiError;
use crate::limits::Reservation;
use crate::openai::{MAX_MODEL_NAME_BYTES, Usage, clipped};
use crate::routing::{self, RouteDecision};
use crate::state::GatewayState;
use crate::usage::savings::{self, Served};
use crate::usage::{UsageEvent, UsageRecorder};

/// What every usage event of one request shares.
pub(super) struct UsageContext {
    recorder: UsageRecorder,
    key: AuthenticatedKey,
    request_id: crate::usage::RequestId,
    started: Instant,
    /// The model the account (or key) would have used without the gateway.
    baseline: Option<&'static CatalogModel>,
    /// Set once the request's one event counted against the quota has been made.
    counted: AtomicBool,
    /// The request's claim on its budgets and rate limits, charged with every event's cost.
    reservation: Arc<Reservation>,
}

impl UsageContext {
    pub(super) fn new(
        state: &GatewayState,
        caller: &Caller,
        started: Instant,
        reservation: Reservation,
    ) -> Self {
        caller.usage_opened.store(true, Ordering::Relaxed);
        Self {
            recorder: state.usage.clone(),
            key: caller.key,
            request_id: caller.request_id,
            started,
            baseline: routing::baseline_model(&caller.policy, &caller.account.providers),
            counted: AtomicBool::new(false),
            reservation: Arc::new(reservation),
        }
    }

    /// The model this request's savings are measured against.
    pub(super) fn baseline(&self) -> Option<&'static CatalogModel> {
        self.baseline
    }

    fn priced(decision: &RouteDecision<'_>) -> Option<&'static CatalogModel> {
        Catalog::built_in().find(decision.endpoint.kind, &decision.model)
    }

    /// The request's event, priced as it was served (`how`).
    fn event(
        &self,
        decision: &RouteDecision<'_>,
        model: &str,
        status: StatusCode,
        usage: Usage,
        error_code: Option<String>,
        how: Serving,
    ) -> UsageEvent {
        let reason = match how {
            Serving::Superseded => format!(
                "{} (superseded: its answer failed the checks)",
                decision.reason
            ),
            Serving::Called | Serving::CacheHit => decision.reason.clone(),
        };
        let mut event = UsageEvent {
            tier: decision.tier.map(|tier| tier.id().to_owned()),
            baseline_model: self.baseline.map(CatalogModel::name),
            routed: decision.routed,
            priced: true,
            counted: !self.counted.swap(true, Ordering::Relaxed),
            cache_hit: how == Serving::CacheHit,
            route_reason: Some(reason),
            provider: decision.endpoint.kind.id().to_owned(),
            // What a provider names is stored bounded, whatever it sent.
            model: clipped(model, MAX_MODEL_NAME_BYTES).to_owned(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            ..UsageEvent::of_request(
                self.request_id,
                self.key.account_id,
                self.key.key_id,
                self.started,
                status.as_u16(),
                error_code.as_deref(),
            )
        };
        let superseded = how == Serving::Superseded;
        price(
            &mut event,
            Self::priced(decision),
            self.baseline,
            usage,
            superseded,
        );
        event
    }

    /// Charges what the event spent to the request's reservation, and records it.
    fn spend(&self, event: UsageEvent, usage: Usage) {
        self.reservation.charge(
            event.cost_usd,
            u64::from(usage.prompt_tokens) + u64::from(usage.completion_tokens),
        );
        self.recorder.record(event);
    }

    pub(super) fn record(
        &self,
        decision: &RouteDecision<'_>,
        model: &str,
        status: StatusCode,
        usage: Usage,
        error_code: Option<String>,
    ) {
        let event = self.event(decision, model, status, usage, error_code, Serving::Called);
        self.spend(event, usage);
    }

    /// A cascade's first answer, which failed its checks and was replaced by a stronger model's:
    /// spent, and claiming no saving (its cost counts against the request's).
    pub(super) fn record_superseded(
        &self,
        decision: &RouteDecision<'_>,
        model: &str,
        usage: Usage,
    ) {
        let how = Serving::Superseded;
        let event = self.event(decision, model, StatusCode::OK, usage, None, how);
        self.spend(event, usage);
    }

    /// A model that failed: its status and error code, no tokens.
    pub(super) fn record_failure(&self, decision: &RouteDecision<'_>, failure: &ApiError) {
        self.record(
            decision,
            &decision.model,
            failure.status,
            Usage::default(),
            failure.body.error.code.clone(),
        );
    }

    /// A cache hit spent nothing: its saving is what it avoided.
    pub(super) fn record_cache_hit(&self, decision: &RouteDecision<'_>, hit: &CachedAnswer) {
        let how = Serving::CacheHit;
        let event = self.event(decision, &hit.model, StatusCode::OK, hit.usage, None, how);
        self.recorder.record(event);
    }
}

/// How an event's tokens were served, as far as its money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// By the provider, for this answer.
    Called,
    /// From the response cache: nothing spent.
    CacheHit,
    /// By the provider, for a cascade's answer that a stronger model's replaced.
    Superseded,
}

/// Sets the event's cost and saving from its tokens (the rules are in `usage::savings`).
fn price(
    event: &mut UsageEvent,
    priced: Option<&CatalogModel>,
    baseline: Option<&CatalogModel>,
    usage: Usage,
    superseded: bool,
) {
    let served = Served {
        model: priced,
        routed: event.routed,
        cache_hit: event.cache_hit,
        superseded,
    };
    let accounting = savings::account(served, baseline, usage);
    event.cost_usd = accounting.cost_usd;
    event.saving_usd = accounting.saving_usd;
    event.priced = accounting.priced;
    event.baseline_cost_usd = accounting.baseline_cost_usd;
}

/// Records a stream's usage when the stream ends, however it ends: finished, broken upstream, or
/// dropped because the client went away (which also drops, and so cancels, the upstream call).
pub(super) struct StreamGuard {
    recorder: UsageRecorder,
    event: UsageEvent,
    started: Instant,
    pub(super) usage: Usage,
    outcome: StreamEnd,
    pub(super) include_usage: bool,
    /// The key's place among its open streams, given back with the guard.
    _slot: Option<crate::abuse::StreamSlot>,
    /// Prices the tokens once the stream has told them.
    priced: Option<&'static CatalogModel>,
    baseline: Option<&'static CatalogModel>,
    reservation: Arc<Reservation>,
    /// A quality check waiting for the stream's text, when this request was chosen for one.
    check: Option<crate::quality::PendingCheck>,
    /// The request's span (`crate::telemetry`), open until the stream ends, which is when its
    /// event says what was served.
    span: tracing::Span,
}

pub(super) enum StreamEnd {
    ClientGone,
    Finished,
    UpstreamFailed(Option<String>),
}

impl StreamGuard {
    pub(super) fn new(
        context: &UsageContext,
        decision: &RouteDecision<'_>,
        include_usage: bool,
    ) -> Self {
        let mut event = context.event(
            decision,
            &decision.model,
            StatusCode::OK,
            Usage::default(),
            None,
            Serving::Called,
        );
        // A stream is answered once its first chunk has arrived: it goes out with the head.
        event.first_byte_ms = Some(event.latency_ms);
        Self {
            recorder: context.recorder.clone(),
            event,
            started: context.started,
            usage: Usage::default(),
            outcome: StreamEnd::ClientGone,
            include_usage,
            _slot: None,
            priced: UsageContext::priced(decision),
            baseline: context.baseline,
            reservation: Arc::clone(&context.reservation),
            check: None,
            span: tracing::Span::current(),
        }
    }

    /// Checks the stream's answer once it has finished (see `crate::quality`).
    pub(super) fn checking(mut self, check: Option<crate::quality::PendingCheck>) -> Self {
        self.check = check;
        self
    }

    /// One chunk as it passes to the client: its text is kept for the check, if there is one.
    pub(super) fn observe(&mut self, chunk: &[u8]) {
        if let Some(check) = &mut self.check {
            check.feed(chunk);
        }
    }

    /// Keeps the key's stream place until the stream ends.
    pub(super) fn holding(mut self, slot: Option<crate::abuse::StreamSlot>) -> Self {
        self._slot = slot;
        self
    }

    pub(super) fn end(&mut self, outcome: StreamEnd) {
        self.outcome = outcome;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut event = self.event.clone();
        event.prompt_tokens = self.usage.prompt_tokens;
        event.completion_tokens = self.usage.completion_tokens;
        event.latency_ms = crate::usage::millis(self.started.elapsed());
        // Tokens a provider reported before the stream ended were spent, however it ended.
        price(&mut event, self.priced, self.baseline, self.usage, false);
        self.reservation.charge(
            event.cost_usd,
            u64::from(self.usage.prompt_tokens) + u64::from(self.usage.completion_tokens),
        );
        match &self.outcome {
            StreamEnd::Finished => {
                if let Some(check) = self.check.take() {
                    check.finish(None, self.usage);
                }
            }
            // 499: nginx's "client closed request", as LiteLLM and others log it.
            StreamEnd::ClientGone => {
                event.status = 499;
                event.error_code = Some("client_disconnected".into());
            }
            StreamEnd::UpstreamFailed(code) => {
                event.status = 502;
                event.error_code =
                    Some(code.clone().unwrap_or_else(|| "stream_interrupted".into()));
            }
        }
        self.span.in_scope(|| self.recorder.record(event));
    }
}
