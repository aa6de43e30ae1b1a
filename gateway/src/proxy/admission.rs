//! Stage 4: what the plan allows, the budgets and rate limits of the key and its account, then
//! the monthly quota.

use crate::directory::AccountConfig;
use crate::error::{ApiError, PlanError};
use crate::limits::Scope;
use crate::limits::estimate::RequestSize;
use crate::limits::ledger::Admission;
use crate::state::GatewayState;

/// Streaming is a paid feature: refused on a plan without it, naming the plan that has it.
pub(super) fn check_streaming(
    state: &GatewayState,
    account: &AccountConfig,
    wants_stream: bool,
) -> Result<(), ApiError> {
    if !wants_stream || state.settings.plans.limits(account.plan).streaming {
        return Ok(());
    }
    let needed = state.settings.plans.streaming_plan_above(account.plan);
    Err(PlanError::StreamingNotIncluded {
        plan: account.plan,
        needed,
    }
    .into())
}

/// A place for one more open stream of the key (a safety valve: one leaked key cannot hold all
/// of a server's connections), held until the stream ends.
pub(super) fn open_stream(
    state: &GatewayState,
    key_id: i32,
    wants_stream: bool,
) -> Result<Option<crate::abuse::StreamSlot>, ApiError> {
    if !wants_stream {
        return Ok(None);
    }
    match state.abuse.open_stream(key_id) {
        Some(slot) => Ok(Some(slot)),
        None => Err(PlanError::TooManyStreams {
            limit: state.abuse.max_concurrent_streams(),
        }
        .into()),
    }
}

/// Counts the request against the plan's monthly quota. It is the last check before a provider is
/// called, so every admitted request records a usage event (which the count is rebuilt from).
pub(super) async fn admit(state: &GatewayState, account: &AccountConfig) -> Result<(), ApiError> {
    let limit = state.settings.plans.limits(account.plan).requests_per_month;
    match state
        .quota
        .admit(&state.db, account.account_id, limit)
        .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(exceeded)) => Err(PlanError::QuotaExceeded {
            plan: account.plan,
            limit: exceeded.limit,
            resets_at: exceeded.resets_at,
        }
        .into()),
        // The count could not be loaded: serve the request rather than fail it for a database
        // hiccup; the next request tries again.
        Err(err) => {
            tracing::warn!(error = %err, account_id = account.account_id, "could not load the monthly request count");
            Ok(())
        }
    }
}

/// Reserves the request's worst case against the key's and the account's budgets and counts it
/// against their rate limits, or refuses it with 429 and the `x-ratelimit-*` headers. It runs
/// before the monthly quota, which counts only requests that then reach a provider.
pub(super) async fn reserve(
    state: &GatewayState,
    caller: &super::caller::Caller,
    size: RequestSize,
    decisions: &[crate::routing::RouteDecision<'_>],
) -> Result<Admission, ApiError> {
    let catalog = crate::catalog::Catalog::built_in();
    let estimate = size.estimate(
        decisions
            .iter()
            .map(|decision| catalog.find(decision.endpoint.kind, &decision.model)),
    );
    let defaults = &state.settings.default_limits;
    let key_limits = caller
        .account
        .limits
        .keys
        .get(&caller.key.key_id)
        .unwrap_or(&defaults.key);
    let account_limits = if caller.account.limits.account.is_empty() {
        &defaults.account
    } else {
        &caller.account.limits.account
    };
    state
        .ledger
        .admit(
            &[
                (Scope::Key(caller.key.key_id), key_limits),
                (Scope::Account(caller.account.account_id), account_limits),
            ],
            estimate,
        )
        .await
        .map_err(|(refusal, headers)| refusal.into_api_error(&headers))
}
