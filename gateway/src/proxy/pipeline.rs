//! The request pipeline, written once: stages 4 to 8 of [`super`] for a routed request
//! ([`serve_routed`]: chat and its dialects), and the steps every route that calls a provider
//! shares (pass-through, embeddings and Anthropic's token count too): [`admit_request`] is
//! stage 4 and what wraps the stages after it (the call to a decision's provider is set up by
//! [`attempts::upstream_call`]). A stage is added here, in one place.

use std::future::Future;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::attempts::{self, Answer};
use super::cache::{self, CacheLookup};
use super::caller::Caller;
use super::native::NativeBody;
use super::usage::{self, UsageContext};
use super::{admission, cascade, respond};
use crate::error::ApiError;
use crate::limits::estimate::RequestSize;
use crate::routing::{self, RouteDecision};
use crate::state::GatewayState;

/// What admission needs to know of a routed request.
pub(super) struct RequestToAdmit<'d, 'a> {
    /// What the request may cost (for budgets and token rate limits).
    pub size: RequestSize,
    /// The models it may go to, in order (their prices bound the reservation).
    pub decisions: &'d [RouteDecision<'a>],
    /// Whether it asks for a stream (a paid feature, and a place among the key's open streams).
    pub stream: bool,
    /// When it arrived, for the usage event's latency.
    pub started: Instant,
}

/// What admission hands on: the request's usage context (holding its reservation) and its place
/// among the key's open streams.
pub(super) struct Admitted {
    pub usage: UsageContext,
    pub stream_slot: Option<crate::abuse::StreamSlot>,
}

/// Stage 4 for every route: the plan's streaming rule, a place among the key's open streams,
/// the budgets and rate limits (reserving the request's cost), then the monthly quota; then
/// `serve` with what was admitted. Every answer, errors included, carries the rate-limit
/// headers OpenAI sends.
pub(super) async fn admit_request<F, Fut>(
    state: &GatewayState,
    caller: &Caller,
    request: RequestToAdmit<'_, '_>,
    serve: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Admitted) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    admission::check_streaming(state, &caller.account, request.stream)?;
    let stream_slot = admission::open_stream(state, caller.key.key_id, request.stream)?;
    let reserved = admission::reserve(state, caller, request.size, request.decisions).await?;
    let rate_headers = reserved.headers;
    let served = async {
        admission::admit(state, &caller.account).await?;
        let usage = UsageContext::new(state, caller, request.started, reserved.reservation);
        serve(Admitted { usage, stream_slot }).await
    };
    with_rate_headers(served.await, &rate_headers)
}

/// OpenAI sends its `x-ratelimit-*` headers with every answer, errors included.
fn with_rate_headers(
    served: Result<Response, ApiError>,
    rate_headers: &crate::limits::RateHeaders,
) -> Result<Response, ApiError> {
    match served {
        Ok(mut response) => {
            rate_headers.apply(response.headers_mut());
            Ok(response)
        }
        Err(mut error) => {
            error.headers.extend(rate_headers.pairs());
            Err(error)
        }
    }
}

/// Stages 4 to 8 for a request already routed.
pub(super) async fn serve_routed(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    routed: Routed<'_, '_, '_>,
) -> Result<Response, ApiError> {
    let admission = RequestToAdmit {
        size: RequestSize::of_chat(&routed.request),
        decisions: routed.decisions,
        stream: routed.request.wants_stream(),
        started: routed.started,
    };
    admit_request(state, caller, admission, |admitted| {
        serve_admitted(state, caller, headers, routed, admitted)
    })
    .await
}

/// A request routed: the chat request, the models to try, and when it arrived. The dialect
/// routes also give the request as the client wrote it (`native`: the attempts of the provider
/// whose API it is in pass it through) and their answer's shape (the others get chat's).
pub(super) struct Routed<'r, 'd, 'a> {
    pub request: crate::openai::ChatCompletionRequest,
    pub decisions: &'d [routing::RouteDecision<'a>],
    pub native: Option<NativeBody<'r>>,
    pub shape: Box<dyn respond::AnswerShape>,
    pub started: Instant,
}

/// Stages 5 to 8, for a request its limits and quota admitted.
async fn serve_admitted(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    Routed {
        request,
        decisions,
        native,
        mut shape,
        started,
    }: Routed<'_, '_, '_>,
    Admitted { usage, stream_slot }: Admitted,
) -> Result<Response, ApiError> {
    let cache = match CacheLookup::open(&state, &headers, &caller, &decisions[0], &request).await? {
        CacheLookup::Hit(hit) => {
            return cache::serve_hit(&usage, &decisions[0], hit, &request, shape);
        }
        lookup => lookup,
    };
    // The cascade checks the answer before it goes back: for non-streamed `auto:verify`.
    let cascade = cascade::Cascade::open(&request, &caller.policy);
    // The cache keeps chat answers, and the checks read them: with either, every attempt is
    // translated.
    let native = native.filter(|_| !cache.is_on() && cascade.is_none());
    let sent = match &cascade {
        Some(cascade) => cascade.sent(&request),
        None => std::borrow::Cow::Borrowed(&request),
    };

    let (decision, (answer, notes)) = attempts::first_success(
        decisions,
        &state.settings.retry,
        started,
        |decision| attempts::attempt(state, headers, &sent, native, decision),
        |decision, failure| usage.record_failure(decision, failure),
    )
    .await?;

    // A quality check of the answer that goes back, where the account samples them.
    let quality_check = |decision: &routing::RouteDecision<'_>| {
        let (account, policy) = (&caller.account, &caller.policy);
        let baseline = usage.baseline();
        crate::quality::prepare(
            state,
            account,
            policy,
            caller.key.key_id,
            &request,
            decision,
            baseline,
        )
    };
    let response = match answer {
        Answer::Complete(outcome) => {
            let settled = match &cascade {
                Some(cascade) => {
                    let first = cascade::FirstAnswer {
                        state,
                        headers,
                        caller,
                        request: &sent,
                        decision,
                        usage: &usage,
                        started,
                    };
                    cascade.settle(first, outcome).await
                }
                None => cascade::Settled::unchecked(outcome),
            };
            let escalated = settled.escalated.as_ref();
            let decision = escalated.map_or(decision, |(decision, _)| decision);
            let outcome = settled.outcome;
            usage.record(
                decision,
                &outcome.served_model,
                StatusCode::OK,
                outcome.usage,
                None,
            );
            // Only the primary model's answers are stored: the cache key names that model.
            if std::ptr::eq(decision, &decisions[0]) {
                cache.store(&state, decision, &outcome).await;
            }
            // A check of this answer, if the account asks for them, runs after it has gone.
            let check = quality_check(decision);
            if let Some(check) = check {
                check.finish(
                    crate::quality::judge::answer_text(&outcome.body),
                    outcome.usage,
                );
            }
            let held = cascade.as_ref().is_some_and(|cascade| cascade.holds_stream);
            let mut response = if held {
                let completion = String::from_utf8_lossy(&outcome.body);
                let usage = request.wants_stream_usage();
                respond::whole_as_stream(&completion, usage, shape.as_mut(), decision)
            } else {
                respond::json(shape.whole(outcome.body)?, decision)
            };
            cache.mark(&mut response);
            if let Some(verdict) = settled.header {
                response.headers_mut().insert("x-gateway-verify", verdict);
            }
            let notes = escalated.map_or(&notes, |(_, notes)| notes);
            return Ok(respond::adapted(response, notes));
        }
        Answer::Passed(passed) => {
            // Only an attempt given the native body passes it through.
            let Some(native) = native else {
                return Err(ApiError::internal());
            };
            let idle = state.settings.upstream_timeout;
            Ok(native.respond(passed, decision, &usage, stream_slot, idle))
        }
        Answer::Stream((first, rest)) => {
            let check = quality_check(decision);
            let guard = usage::StreamGuard::new(&usage, decision, request.wants_stream_usage())
                .holding(stream_slot)
                .checking(check);
            let body = respond::sse_body(first, rest, guard, shape);
            let mut response = respond::sse(body, decision);
            cache.mark(&mut response);
            Ok(response)
        }
    };
    response.map(|response| respond::adapted(response, &notes))
}
