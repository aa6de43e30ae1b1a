//! The cascade (`auto:verify`, or `"verify": true` in the routing policy): the routed model
//! answers first, the checks of `crate::verify` read its answer, and when one fails the next tier
//! up is asked through the same attempts (fallbacks, retries, usage). The answer's
//! `x-gateway-verify` says `passed` or `escalated (<check>, …)`. Usage records both calls; the
//! first one, superseded, claims no saving and counts against the request's (see
//! `usage::savings`).
//!
//! A streamed request is checked only where the policy holds streams (`"verify_streams": true`):
//! the attempts are made whole, and the answer that goes back is sent as the stream the client
//! asked for. Elsewhere a streamed `auto:verify` request is served as `auto`.

use std::borrow::Cow;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};

use super::attempts::{self, Answer};
use super::caller::Caller;
use super::usage::UsageContext;
use crate::adapt::Notes;
use crate::openai::ChatCompletionRequest;
use crate::providers::ChatOutcome;
use crate::routing::{self, RouteDecision, RoutingPolicy};
use crate::state::GatewayState;
use crate::verify::{self, Check};

pub(super) struct Cascade {
    checks: Vec<Check>,
    /// A streamed request, answered whole and sent as a stream once checked.
    pub holds_stream: bool,
}

/// The answer that goes back, and what the cascade did.
pub(super) struct Settled<'c> {
    pub outcome: ChatOutcome,
    /// The model of the next tier that answered instead, and how its request was adapted.
    pub escalated: Option<(RouteDecision<'c>, Notes)>,
    /// `x-gateway-verify`.
    pub header: Option<HeaderValue>,
}

impl Settled<'_> {
    pub fn unchecked(outcome: ChatOutcome) -> Self {
        Settled {
            outcome,
            escalated: None,
            header: None,
        }
    }
}

/// The request a first answer was given to: what the checks read, and what asking the next tier
/// up needs (the same attempts, recorded in the same usage, within the same retry deadline).
pub(super) struct FirstAnswer<'a, 'c> {
    pub state: &'a GatewayState,
    pub headers: &'a HeaderMap,
    pub caller: &'c Caller,
    pub request: &'a ChatCompletionRequest,
    pub decision: &'a RouteDecision<'a>,
    pub usage: &'a UsageContext,
    pub started: Instant,
}

impl Cascade {
    /// The cascade for this request, if it asks for one (and, streamed, the policy holds
    /// streams).
    pub fn open(request: &ChatCompletionRequest, policy: &RoutingPolicy) -> Option<Cascade> {
        let streamed = request.wants_stream();
        let allowed = !streamed || policy.verify_streams == Some(true);
        (routing::wants_verify(request, policy) && allowed).then(|| Cascade {
            checks: policy.enabled_checks(),
            holds_stream: streamed,
        })
    }

    /// What the attempts send: the request itself, or for a held stream the same request
    /// answered whole.
    pub fn sent<'r>(&self, request: &'r ChatCompletionRequest) -> Cow<'r, ChatCompletionRequest> {
        if !self.holds_stream {
            return Cow::Borrowed(request);
        }
        let mut whole = request.clone();
        whole.stream = None;
        whole.extra.remove("stream_options");
        Cow::Owned(whole)
    }

    /// Checks `outcome`, `decision`'s answer, and asks the next tier up when a check fails.
    /// An answer that cannot be escalated (the top tier allowed answered, or every model above
    /// failed) goes back as it is, and the header says so.
    pub async fn settle<'c>(
        &self,
        first: FirstAnswer<'_, 'c>,
        outcome: ChatOutcome,
    ) -> Settled<'c> {
        let FirstAnswer {
            state,
            headers,
            caller,
            request,
            decision,
            usage,
            started,
        } = first;
        let answer = verify::Answer::of_chat_body(&outcome.body).unwrap_or_default();
        let verdict = verify::check(request, &answer, &self.checks);
        let kept = |outcome, said: String| Settled {
            outcome,
            escalated: None,
            header: HeaderValue::from_str(&said).ok(),
        };
        if verdict.passed() {
            return kept(outcome, verdict.header());
        }
        let escalation =
            routing::escalation(request, decision, &caller.account.providers, &caller.policy);
        if escalation.is_empty() {
            let failed = verdict.header().replacen("escalated", "failed", 1);
            return kept(outcome, format!("{failed}; no tier above"));
        }
        let second = attempts::first_success(
            &escalation,
            &state.settings.retry,
            started,
            |next| attempts::attempt(state, headers, request, None, next),
            |next, failure| usage.record_failure(next, failure),
        )
        .await;
        match second {
            Ok((next, (Answer::Complete(better), notes))) => {
                usage.record_superseded(decision, &outcome.served_model, outcome.usage);
                Settled {
                    outcome: better,
                    escalated: Some((next.clone(), notes)),
                    header: HeaderValue::from_str(&verdict.header()).ok(),
                }
            }
            // Not streamed and not passed through: a whole answer or a failure.
            Ok(_) | Err(_) => {
                let failed = verdict.header().replacen("escalated", "failed", 1);
                kept(outcome, format!("{failed}; the tier above failed"))
            }
        }
    }
}
